//! Charts: line charts (CDFs, time series, latency-throughput curves), histograms, the
//! Pareto front and heat maps, drawn with plotters as SVG (always) or PNG.
//!
//! Invariants: a chart is a plain description ([`Chart`]) rendered by one function per
//! backend, so SVG and PNG show the same thing. Text is laid out with the bundled DejaVu
//! Sans (`assets/DejaVuSans.ttf`, Bitstream Vera licence in `assets/`), never a system
//! font, and every coordinate is an integer pixel, so the same chart gives byte-identical
//! SVG and PNG on any machine. Charts hold at most a few thousand points: callers reduce
//! large data first (quantiles, window aggregates).

use crate::ReportError;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::FontStyle;
use std::path::Path;

/// Width of every chart, pixels.
pub const WIDTH: u32 = 860;
/// Height of every chart, pixels.
pub const HEIGHT: u32 = 440;

const FONT: &str = "sans-serif";
const FONT_BYTES: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Series colours, in order (colour-blind-safe Okabe-Ito, darker first).
const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(230, 159, 0),
    RGBColor(0, 0, 0),
];
const GUIDE: RGBColor = RGBColor(200, 30, 30);
const GREY: RGBColor = RGBColor(150, 150, 150);

/// One named line.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// `(x, y)` points in drawing order.
    pub points: Vec<(f64, f64)>,
    /// Dashed (a baseline or a second run) rather than solid.
    pub dashed: bool,
}

/// A labelled guide line across the plot.
#[derive(Clone, Debug, PartialEq)]
pub struct Guide {
    /// Legend text, e.g. `TTFT SLO 2000 ms`.
    pub label: String,
    /// Position on its axis.
    pub at: f64,
    /// An SLO (drawn red) rather than a reference (grey).
    pub slo: bool,
}

/// A labelled point drawn over the lines (the knee of a curve, the recommendation).
#[derive(Clone, Debug, PartialEq)]
pub struct Marker {
    /// Legend text.
    pub label: String,
    /// Position.
    pub x: f64,
    /// Position.
    pub y: f64,
}

/// Lines over a shared x axis.
#[derive(Clone, Debug, PartialEq)]
pub struct LineChart {
    /// Title.
    pub title: String,
    /// x-axis label with unit.
    pub x_label: String,
    /// y-axis label with unit.
    pub y_label: String,
    /// The lines.
    pub series: Vec<Series>,
    /// Horizontal guides (SLO lines).
    pub h_guides: Vec<Guide>,
    /// Vertical guides (SLO lines on a CDF's x axis).
    pub v_guides: Vec<Guide>,
    /// Points marked.
    pub markers: Vec<Marker>,
    /// Draw the points too (few points, e.g. one per sweep rate).
    pub dots: bool,
    /// Where the legend goes.
    pub legend: LegendPos,
}

/// Corner of a line chart's legend.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum LegendPos {
    /// Top left, with headroom added above the data (time series, curves).
    UpperLeft,
    /// Top right.
    UpperRight,
    /// Bottom right (CDFs, whose lower right is empty).
    LowerRight,
}

/// Counts of values in consecutive bins.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    /// Title.
    pub title: String,
    /// x-axis label with unit.
    pub x_label: String,
    /// `(low, high, count)` per bin, in increasing order.
    pub bins: Vec<(f64, f64, u64)>,
}

/// Candidates as points, the non-dominated ones joined as a front.
#[derive(Clone, Debug, PartialEq)]
pub struct Scatter {
    /// Title.
    pub title: String,
    /// x-axis label with unit.
    pub x_label: String,
    /// y-axis label with unit.
    pub y_label: String,
    /// Groups of points, one colour and legend entry each.
    pub groups: Vec<Series>,
    /// The front, in increasing x, drawn as a line.
    pub front: Vec<(f64, f64)>,
    /// Highlighted points.
    pub markers: Vec<Marker>,
}

/// Values over two categorical axes.
#[derive(Clone, Debug, PartialEq)]
pub struct HeatMap {
    /// Title.
    pub title: String,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// Column names, left to right.
    pub x_cats: Vec<String>,
    /// Row names, bottom to top.
    pub y_cats: Vec<String>,
    /// `(column, row, value)`, each value written in its cell; missing cells are drawn
    /// grey.
    pub cells: Vec<(usize, usize, f64)>,
}

/// A chart description.
#[derive(Clone, Debug, PartialEq)]
pub enum Chart {
    /// Lines.
    Line(LineChart),
    /// A histogram.
    Histogram(Histogram),
    /// A scatter plot with a front.
    Scatter(Scatter),
    /// A heat map.
    HeatMap(HeatMap),
}

impl Chart {
    /// The title.
    pub fn title(&self) -> &str {
        match self {
            Chart::Line(c) => &c.title,
            Chart::Histogram(c) => &c.title,
            Chart::Scatter(c) => &c.title,
            Chart::HeatMap(c) => &c.title,
        }
    }

    /// The chart as an SVG document.
    pub fn svg(&self) -> Result<String, ReportError> {
        register_font();
        let mut out = String::new();
        {
            let root = SVGBackend::with_string(&mut out, (WIDTH, HEIGHT)).into_drawing_area();
            self.draw(&root).map_err(|message| self.error(message))?;
            root.present()
                .map_err(|e| self.error(format!("rendering: {e}")))?;
        }
        Ok(out)
    }

    /// The chart as a PNG image.
    pub fn png(&self) -> Result<Vec<u8>, ReportError> {
        register_font();
        let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
            self.draw(&root).map_err(|message| self.error(message))?;
            root.present()
                .map_err(|e| self.error(format!("rendering: {e}")))?;
        }
        let mut png = Vec::new();
        let mut enc = png::Encoder::new(&mut png, WIDTH, HEIGHT);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.write_header()
            .and_then(|mut w| w.write_image_data(&rgb))
            .map_err(|e| self.error(format!("encoding PNG: {e}")))?;
        Ok(png)
    }

    /// Write `DIR/NAME.svg`, and `DIR/NAME.png` when `png`; returns the SVG.
    pub fn write(&self, dir: &Path, name: &str, png: bool) -> Result<String, ReportError> {
        let svg = self.svg()?;
        crate::atomic::write_file(&dir.join(format!("{name}.svg")), svg.as_bytes())?;
        if png {
            crate::atomic::write_file(&dir.join(format!("{name}.png")), &self.png()?)?;
        }
        Ok(svg)
    }

    fn error(&self, message: String) -> ReportError {
        ReportError::Chart {
            chart: self.title().to_string(),
            message,
        }
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        match self {
            Chart::Line(c) => draw_line(root, c),
            Chart::Histogram(c) => draw_histogram(root, c),
            Chart::Scatter(c) => draw_scatter(root, c),
            Chart::HeatMap(c) => draw_heatmap(root, c),
        }
        .map_err(|e| e.to_string())
    }
}

fn register_font() {
    // Registration replaces the entry with the same bytes; it cannot fail for the bundled
    // font (a failure would be a corrupt build, caught by every chart test).
    plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES)
        .unwrap_or_else(|_| panic!("bundled DejaVu Sans does not parse"));
}

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// A chart context with numeric x and y axes.
type NumericChart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// `[lo, hi]` of the values, widened so that the range is never empty; `from_zero` starts
/// it at 0 when every value is non-negative.
fn range(values: impl Iterator<Item = f64>, from_zero: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if from_zero && lo >= 0.0 {
        lo = 0.0;
    }
    if hi - lo <= 0.0 {
        let pad = if hi == 0.0 { 1.0 } else { hi.abs() * 0.1 };
        return (lo - if lo == 0.0 { 0.0 } else { pad }, hi + pad);
    }
    (lo, hi + (hi - lo) * 0.05)
}

/// Tick labels: few significant digits, no trailing zeros.
fn tick(v: &f64) -> String {
    let a = v.abs();
    let s = if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Split a polyline into dashes `dash` long, measured in plot-relative units (both axes
/// scaled to 0..1), drawn every other one.
fn dashed_path(
    points: &[(f64, f64)],
    x: (f64, f64),
    y: (f64, f64),
    dash: f64,
) -> Vec<Vec<(f64, f64)>> {
    let (xs, ys) = ((x.1 - x.0).max(1e-300), (y.1 - y.0).max(1e-300));
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut on = true;
    let mut acc = 0.0;
    for w in points.windows(2) {
        let (a, b) = (w[0], w[1]);
        let len = (((b.0 - a.0) / xs).powi(2) + ((b.1 - a.1) / ys).powi(2)).sqrt();
        if len == 0.0 {
            continue;
        }
        let mut t = 0.0;
        while t < 1.0 {
            let t1 = (t + (dash - acc) / len).min(1.0);
            let p0 = (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t);
            let p1 = (a.0 + (b.0 - a.0) * t1, a.1 + (b.1 - a.1) * t1);
            if on {
                if cur.is_empty() {
                    cur.push(p0);
                }
                cur.push(p1);
            }
            acc += (t1 - t) * len;
            t = t1;
            if acc >= dash * (1.0 - 1e-9) {
                acc = 0.0;
                if on {
                    out.push(std::mem::take(&mut cur));
                }
                on = !on;
            }
        }
    }
    if cur.len() > 1 {
        out.push(cur);
    }
    out
}

/// A guide is drawn only when it lies within this factor of the data's range; beyond, it
/// would squash the data into a corner, so only its legend entry says where it is.
const GUIDE_REACH: f64 = 2.0;

fn draw_line<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &LineChart) -> DrawResult<DB> {
    let data_x = range(
        c.series.iter().flat_map(|s| s.points.iter().map(|p| p.0)),
        true,
    );
    let data_y = range(
        c.series.iter().flat_map(|s| s.points.iter().map(|p| p.1)),
        true,
    );
    let within = |g: &Guide, r: (f64, f64)| g.at <= r.1 * GUIDE_REACH;
    let xs = c
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .chain(
            c.v_guides
                .iter()
                .filter(|g| within(g, data_x))
                .map(|g| g.at),
        )
        .chain(c.markers.iter().map(|m| m.x));
    let ys = c
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .chain(
            c.h_guides
                .iter()
                .filter(|g| within(g, data_y))
                .map(|g| g.at),
        )
        .chain(c.markers.iter().map(|m| m.y));
    let x = range(xs, true);
    let mut y = range(ys, true);
    if c.legend == LegendPos::UpperLeft {
        // Headroom so that the legend sits above the data.
        y.1 += (y.1 - y.0)
            * 0.06
            * (c.series.len() + c.h_guides.len() + c.v_guides.len() + c.markers.len()) as f64;
    }
    let mut chart = numeric_axes(root, &c.title, &c.x_label, &c.y_label, x, y)?;
    for (i, s) in c.series.iter().enumerate() {
        let col = color(i);
        let style = col.stroke_width(2);
        if s.dashed {
            let dashes = dashed_path(&s.points, x, y, 0.012);
            let mut first = true;
            for d in dashes {
                let anno = chart.draw_series(LineSeries::new(d, style))?;
                if first {
                    anno.label(s.name.as_str()).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 8, y)], col.stroke_width(2))
                    });
                    first = false;
                }
            }
            if first {
                // No dash drawn (one point): the legend entry still names the series.
                chart
                    .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())?
                    .label(s.name.as_str())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 8, y)], col.stroke_width(2))
                    });
            }
        } else {
            chart
                .draw_series(LineSeries::new(s.points.iter().copied(), style))?
                .label(s.name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], col.stroke_width(2))
                });
        }
        if c.dots {
            chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, col.filled())))?;
        }
    }
    for g in &c.h_guides {
        let col = if g.slo { GUIDE } else { GREY };
        let (pts, label) = if g.at <= y.1 {
            (vec![(x.0, g.at), (x.1, g.at)], g.label.clone())
        } else {
            (Vec::new(), format!("{} (above the axis)", g.label))
        };
        chart
            .draw_series(LineSeries::new(pts, col.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], col.stroke_width(2)));
    }
    for g in &c.v_guides {
        let col = if g.slo { GUIDE } else { GREY };
        let (pts, label) = if g.at <= x.1 {
            (vec![(g.at, y.0), (g.at, y.1)], g.label.clone())
        } else {
            (Vec::new(), format!("{} (beyond the axis)", g.label))
        };
        chart
            .draw_series(LineSeries::new(pts, col.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], col.stroke_width(2)));
    }
    for m in &c.markers {
        chart
            .draw_series([TriangleMarker::new((m.x, m.y), 8, BLACK.filled())])?
            .label(m.label.as_str())
            .legend(|(x, y)| TriangleMarker::new((x + 10, y), 6, BLACK.filled()));
    }
    legend(&mut chart, c.legend)
}

fn legend<'a, DB: DrawingBackend + 'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    pos: LegendPos,
) -> DrawResult<DB> {
    chart
        .configure_series_labels()
        .position(match pos {
            LegendPos::UpperLeft => SeriesLabelPosition::UpperLeft,
            LegendPos::LowerRight => SeriesLabelPosition::LowerRight,
            LegendPos::UpperRight => SeriesLabelPosition::UpperRight,
        })
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .label_font((FONT, 13))
        .draw()
}

/// A chart with numeric axes over `x` and `y`: the title, axis labels and light grid every
/// numeric chart shares.
fn numeric_axes<'a, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, Shift>,
    title: &str,
    x_label: &str,
    y_label: &str,
    x: (f64, f64),
    y: (f64, f64),
) -> Result<NumericChart<'a, DB>, DrawingAreaErrorKind<DB::ErrorType>> {
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 20))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(x.0..x.1, y.0..y.1)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .x_label_formatter(&tick)
        .y_label_formatter(&tick)
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 15))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()?;
    Ok(chart)
}

fn draw_histogram<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    c: &Histogram,
) -> DrawResult<DB> {
    let x = range(c.bins.iter().flat_map(|b| [b.0, b.1]), true);
    let y = range(c.bins.iter().map(|b| b.2 as f64), true);
    let mut chart = numeric_axes(root, &c.title, &c.x_label, "requests", x, y)?;
    let col = color(0);
    chart
        .draw_series(
            c.bins
                .iter()
                .map(|&(lo, hi, n)| Rectangle::new([(lo, 0.0), (hi, n as f64)], col.filled())),
        )?
        .label("requests per bin")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], col.filled()));
    legend(&mut chart, LegendPos::UpperRight)
}

fn draw_scatter<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &Scatter) -> DrawResult<DB> {
    let xs = c.groups.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let ys = c.groups.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    let x = range(xs, true);
    let y = range(ys, true);
    let mut chart = numeric_axes(root, &c.title, &c.x_label, &c.y_label, x, y)?;
    for (i, g) in c.groups.iter().enumerate() {
        let col = color(i + 1);
        chart
            .draw_series(
                g.points
                    .iter()
                    .map(|&p| Circle::new(p, 3, col.mix(0.7).filled())),
            )?
            .label(g.name.as_str())
            .legend(move |(x, y)| Circle::new((x + 6, y), 3, col.filled()));
    }
    let front = color(0);
    chart
        .draw_series(LineSeries::new(
            c.front.iter().copied(),
            front.stroke_width(2),
        ))?
        .label("Pareto front")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], front.stroke_width(2)));
    chart.draw_series(c.front.iter().map(|&p| Circle::new(p, 4, front.filled())))?;
    for m in &c.markers {
        chart
            .draw_series([TriangleMarker::new((m.x, m.y), 9, BLACK.filled())])?
            .label(m.label.as_str())
            .legend(|(x, y)| TriangleMarker::new((x + 10, y), 6, BLACK.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .label_font((FONT, 13))
        .draw()
}

/// White (low) to dark blue (high).
fn heat(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let lerp = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    RGBColor(lerp(240.0, 8.0), lerp(246.0, 48.0), lerp(255.0, 107.0))
}

fn draw_heatmap<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &HeatMap) -> DrawResult<DB> {
    let nx = c.x_cats.len().max(1);
    let ny = c.y_cats.len().max(1);
    let (lo, hi) = range(c.cells.iter().map(|v| v.2), true);
    let mut chart = ChartBuilder::on(root)
        .caption(&c.title, (FONT, 20))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(110)
        .build_cartesian_2d(0.0..nx as f64, 0.0..ny as f64)?;
    let xc = c.x_cats.clone();
    let yc = c.y_cats.clone();
    let cat = |cats: &[String], v: f64| -> String {
        let i = (v - 0.5).round();
        if (v - 0.5 - i).abs() < 1e-6 && i >= 0.0 {
            cats.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    let x_fmt = move |v: &f64| cat(&xc, *v);
    let y_fmt = move |v: &f64| cat(&yc, *v);
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(c.x_label.as_str())
        .y_desc(c.y_label.as_str())
        .x_labels(nx * 2 + 1)
        .y_labels(ny * 2 + 1)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 15))
        .draw()?;
    chart.draw_series(c.cells.iter().map(|&(i, j, v)| {
        let t = if hi > lo { (v - lo) / (hi - lo) } else { 1.0 };
        Rectangle::new(
            [
                (i as f64 + 0.02, j as f64 + 0.02),
                (i as f64 + 0.98, j as f64 + 0.98),
            ],
            heat(t).filled(),
        )
    }))?;
    chart.draw_series(c.cells.iter().map(|&(i, j, v)| {
        let t = if hi > lo { (v - lo) / (hi - lo) } else { 1.0 };
        let ink: &'static RGBColor = if t > 0.55 { &WHITE } else { &BLACK };
        Text::new(
            tick(&v),
            (i as f64 + 0.5, j as f64 + 0.5),
            TextStyle::from((FONT, 13).into_font()).color(ink).pos(
                plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Center,
                    plotters::style::text_anchor::VPos::Center,
                ),
            ),
        )
    }))?;
    let mut filled = vec![false; nx * ny];
    for &(i, j, _) in &c.cells {
        if i < nx && j < ny {
            filled[j * nx + i] = true;
        }
    }
    chart.draw_series((0..nx * ny).filter(|k| !filled[*k]).map(|k| {
        let (i, j) = ((k % nx) as f64, (k / nx) as f64);
        Rectangle::new(
            [(i + 0.02, j + 0.02), (i + 0.98, j + 0.98)],
            RGBColor(225, 225, 225).filled(),
        )
    }))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Chart {
        Chart::Line(LineChart {
            title: "TTFT CDF".into(),
            x_label: "TTFT (ms)".into(),
            y_label: "fraction of requests".into(),
            series: vec![
                Series {
                    name: "disaggregated".into(),
                    points: vec![(0.0, 0.0), (10.0, 0.5), (20.0, 1.0)],
                    dashed: false,
                },
                Series {
                    name: "aggregated baseline".into(),
                    points: vec![(0.0, 0.0), (15.0, 0.5), (30.0, 1.0)],
                    dashed: true,
                },
            ],
            h_guides: vec![],
            v_guides: vec![Guide {
                label: "SLO 25 ms".into(),
                at: 25.0,
                slo: true,
            }],
            markers: vec![],
            dots: false,
            legend: LegendPos::LowerRight,
        })
    }

    #[test]
    fn svg_names_axes_and_legend_and_is_deterministic() {
        let a = sample().svg().unwrap();
        let b = sample().svg().unwrap();
        assert_eq!(a, b);
        for text in [
            "TTFT CDF",
            "TTFT (ms)",
            "fraction of requests",
            "disaggregated",
            "aggregated baseline",
            "SLO 25 ms",
        ] {
            assert!(a.contains(text), "{text} missing");
        }
        assert!(a.starts_with("<svg"));
    }

    #[test]
    fn png_is_a_png_and_deterministic() {
        let a = sample().png().unwrap();
        assert_eq!(&a[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(a, sample().png().unwrap());
    }

    #[test]
    fn every_kind_renders_even_empty() {
        let charts = [
            Chart::Histogram(Histogram {
                title: "h".into(),
                x_label: "ms".into(),
                bins: vec![],
            }),
            Chart::Scatter(Scatter {
                title: "s".into(),
                x_label: "x".into(),
                y_label: "y".into(),
                groups: vec![],
                front: vec![],
                markers: vec![],
            }),
            Chart::HeatMap(HeatMap {
                title: "m".into(),
                x_label: "x".into(),
                y_label: "y".into(),
                x_cats: vec!["1:1".into(), "2:1".into()],
                y_cats: vec!["TP1".into()],
                cells: vec![(0, 0, 0.5)],
            }),
            Chart::Line(LineChart {
                title: "l".into(),
                x_label: "x".into(),
                y_label: "y".into(),
                series: vec![Series {
                    name: "one".into(),
                    points: vec![(1.0, 1.0)],
                    dashed: true,
                }],
                h_guides: vec![],
                v_guides: vec![],
                markers: vec![],
                dots: true,
                legend: LegendPos::UpperLeft,
            }),
        ];
        for c in charts {
            let svg = c.svg().unwrap();
            assert!(svg.contains(c.title()));
        }
    }

    #[test]
    fn ticks_are_short() {
        assert_eq!(tick(&1500.0), "1500");
        assert_eq!(tick(&12.5), "12.5");
        assert_eq!(tick(&0.25), "0.25");
        assert_eq!(tick(&0.0), "0");
        assert_eq!(tick(&2.0), "2");
    }
}
