//! The interpolation structures behind the lookups: a [`Curve`] of `(x, y)` points
//! interpolated log-log over one axis, and a [`Grid2`] interpolated bilinearly in log
//! space over two.
//!
//! Invariants: both are exact at a measured point and monotone between two adjacent
//! points along an axis (a curve clamps its log-space result into the segment's
//! bounds); neither extrapolates beyond [`MAX_EXTRAPOLATION`] times the largest measured
//! value, where they return `None`. Nothing here allocates after construction.

/// How far above the largest measured size (GEMM `m`, collective bytes, attention work)
/// a lookup extrapolates linearly before it gives up (factor).
pub const MAX_EXTRAPOLATION: f64 = 4.0;

/// A sorted curve of `(x, y)` points with `x > 0`, `y > 0`, interpolated log-log.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Curve {
    /// Strictly increasing x; y > 0. When a profile holds several rows at one x, the
    /// smallest y is kept (the fastest measurement).
    pub(super) pts: Vec<(f64, f64)>,
}

/// What a curve does outside its measured x range.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Ends {
    /// None below the smallest x; y ∝ x above the largest x (bounded).
    NoneBelowLinearAbove,
    /// The smallest y below the smallest x; y ∝ x above the largest x (bounded).
    FloorBelowLinearAbove,
    /// The first / last y outside the range (bounded above).
    FlatBoth,
}

impl Curve {
    /// `amount` times the per-unit value of a curve of seconds per unit (FLOP, byte), flat
    /// at both ends; below its first point (the launch-bound region) no faster than
    /// `floor`, the smallest measured call. `None` for an empty curve or out of range.
    pub(super) fn total_with_floor(&self, amount: f64, floor: f64) -> Option<f64> {
        let first = self.pts.first()?;
        if amount < first.0 {
            return Some(floor.min(first.1 * first.0));
        }
        Some(self.eval(amount, Ends::FlatBoth)? * amount)
    }

    pub(super) fn from_points(mut pts: Vec<(f64, f64)>) -> Curve {
        pts.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        pts.dedup_by(|later, earlier| later.0 == earlier.0);
        Curve { pts }
    }

    pub(super) fn eval(&self, x: f64, ends: Ends) -> Option<f64> {
        let first = *self.pts.first()?;
        let last = *self.pts.last()?;
        if !(x.is_finite() && x > 0.0) {
            return None;
        }
        if x < first.0 {
            return match ends {
                Ends::NoneBelowLinearAbove => None,
                Ends::FloorBelowLinearAbove | Ends::FlatBoth => Some(first.1),
            };
        }
        if x > last.0 {
            if x > last.0 * MAX_EXTRAPOLATION {
                return None;
            }
            return match ends {
                Ends::NoneBelowLinearAbove | Ends::FloorBelowLinearAbove => {
                    Some(last.1 * x / last.0)
                }
                Ends::FlatBoth => Some(last.1),
            };
        }
        // first.0 <= x <= last.0: find the segment.
        let i = self.pts.partition_point(|p| p.0 < x);
        let hi = self.pts[i];
        if hi.0 == x {
            return Some(hi.1);
        }
        let lo = self.pts[i - 1];
        let t = (x.ln() - lo.0.ln()) / (hi.0.ln() - lo.0.ln());
        let y = (lo.1.ln() + t * (hi.1.ln() - lo.1.ln())).exp();
        // Keep the result inside the segment's bounds despite rounding (monotonicity).
        Some(y.clamp(lo.1.min(hi.1), lo.1.max(hi.1)))
    }
}

/// A 2-D table `v(x, y) > 0` on sorted axes, interpolated bilinearly in
/// `(ln x, ln y) → ln v`; cells may be missing.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Grid2 {
    xs: Vec<f64>,
    ys: Vec<f64>,
    /// Row-major `xs.len() × ys.len()`; the smallest value where rows repeat a cell.
    v: Vec<Option<f64>>,
    /// `ln` of `xs`, `ys` and `v`, computed once: the same values a lookup would compute
    /// (so lookups are unchanged bit for bit), without their cost per lookup.
    ln_xs: Vec<f64>,
    ln_ys: Vec<f64>,
    ln_v: Vec<Option<f64>>,
}

impl Grid2 {
    pub(super) fn from_points(pts: &[(f64, f64, f64)]) -> Grid2 {
        let axis = |f: fn(&(f64, f64, f64)) -> f64| {
            let mut a: Vec<f64> = pts.iter().map(f).collect();
            a.sort_by(f64::total_cmp);
            a.dedup();
            a
        };
        let xs = axis(|p| p.0);
        let ys = axis(|p| p.1);
        let mut v = vec![None; xs.len() * ys.len()];
        for &(x, y, val) in pts {
            let i = xs.partition_point(|&a| a < x);
            let j = ys.partition_point(|&a| a < y);
            let c: &mut Option<f64> = &mut v[i * ys.len() + j];
            *c = Some(c.map_or(val, |o: f64| o.min(val)));
        }
        let ln_xs = xs.iter().map(|a| a.ln()).collect();
        let ln_ys = ys.iter().map(|a| a.ln()).collect();
        let ln_v = v.iter().map(|c| c.map(f64::ln)).collect();
        Grid2 {
            xs,
            ys,
            v,
            ln_xs,
            ln_ys,
            ln_v,
        }
    }

    /// Bracketing indices and weight in log space for `t` on `axis` (already clamped
    /// into range); `ln_axis` is `ln` of `axis`.
    fn bracket(axis: &[f64], ln_axis: &[f64], t: f64) -> (usize, usize, f64) {
        let i = axis.partition_point(|&a| a < t);
        if axis[i] == t {
            return (i, i, 0.0);
        }
        let (a, b) = (ln_axis[i - 1], ln_axis[i]);
        (i - 1, i, (t.ln() - a) / (b - a))
    }

    /// The `x` half of a lookup, resolved once for many `y`: `None` when `x` (or the
    /// grid) is out of range.
    pub(super) fn x_point(&self, x: f64) -> Option<AxisPoint> {
        let xmax = *self.xs.last()?;
        if x.is_nan() || x <= 0.0 || x > xmax * MAX_EXTRAPOLATION {
            return None;
        }
        let (i0, i1, t) = Self::bracket(&self.xs, &self.ln_xs, x.clamp(self.xs[0], xmax));
        Some(AxisPoint {
            i0,
            i1,
            t,
            scale: (x / xmax).max(1.0),
        })
    }

    /// The largest `y` [`Self::eval_at`] prices: the last measured `y` times
    /// [`MAX_EXTRAPOLATION`].
    pub(super) fn y_reach(&self) -> Option<f64> {
        self.ys.last().map(|y| y * MAX_EXTRAPOLATION)
    }

    /// The value at a resolved `x` and `y`: `None` outside `[.., 4 × max]` on either axis
    /// or where a needed cell is missing. Below an axis' smallest value the smallest is
    /// used (a floor); above its largest, the value scales linearly.
    pub(super) fn eval_at(&self, xp: AxisPoint, y: f64) -> Option<f64> {
        let ymax = *self.ys.last()?;
        if y.is_nan() || y <= 0.0 || y > ymax * MAX_EXTRAPOLATION {
            return None;
        }
        let scale = xp.scale * (y / ymax).max(1.0);
        let (i0, i1, tx) = (xp.i0, xp.i1, xp.t);
        let (j0, j1, ty) = Self::bracket(&self.ys, &self.ln_ys, y.clamp(self.ys[0], ymax));
        if i0 == i1 && j0 == j1 {
            // On a grid point: the measured value itself, exactly.
            return self.v[i0 * self.ys.len() + j0].map(|v| v * scale);
        }
        let at = |i: usize, j: usize| self.ln_v[i * self.ys.len() + j];
        let (a, b, c, d) = (at(i0, j0)?, at(i0, j1)?, at(i1, j0)?, at(i1, j1)?);
        let lo = a + ty * (b - a);
        let hi = c + ty * (d - c);
        Some((lo + tx * (hi - lo)).exp() * scale)
    }
}

/// One axis coordinate of a [`Grid2`] lookup: bracketing indices, the log-space weight
/// and the linear scale beyond the axis' end.
#[derive(Copy, Clone, Debug, PartialEq)]
pub(super) struct AxisPoint {
    i0: usize,
    i1: usize,
    t: f64,
    scale: f64,
}
