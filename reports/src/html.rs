//! The self-contained `report.html`: inline SVG charts, inline CSS, no script, no
//! network access.
//!
//! Invariant: the page is a pure function of its parts (no date, no host, no random
//! ids), so the same inputs give a byte-identical file.

use crate::assumptions::Assumptions;
use std::fmt::Write as _;

/// Escape text for HTML.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// A section of the page: anchor id, heading and HTML body.
#[derive(Clone, Debug, PartialEq)]
pub struct Section {
    /// Anchor.
    pub id: String,
    /// Heading text.
    pub heading: String,
    /// Body, HTML.
    pub body: String,
}

impl Section {
    /// A section.
    pub fn new(id: &str, heading: &str, body: String) -> Section {
        Section {
            id: id.to_string(),
            heading: heading.to_string(),
            body,
        }
    }
}

const CSS: &str = "body{font-family:'DejaVu Sans',Verdana,Arial,sans-serif;margin:0 auto;max-width:1100px;padding:0 24px 48px;color:#222;line-height:1.45}
h1{font-size:1.6em;margin:24px 0 4px}h2{font-size:1.25em;margin:32px 0 8px;border-bottom:1px solid #ccc;padding-bottom:4px}
.sub{color:#555;margin:0 0 12px}nav a{margin-right:14px}
table{border-collapse:collapse;margin:8px 0 16px;font-size:0.92em}th,td{border:1px solid #ddd;padding:4px 10px;text-align:left}
th{background:#f3f5f8}td.n{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:16px 0 28px}figure svg{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#444;font-size:0.92em;margin-top:4px}.ok{color:#067d3a;font-weight:bold}.bad{color:#b00020;font-weight:bold}
footer{margin-top:40px;color:#777;font-size:0.85em}";

/// The whole page.
pub fn page(title: &str, subtitle: &str, sections: &[Section]) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>\n{CSS}\n</style>\n</head>\n<body>\n<h1>{}</h1>\n<p class=\"sub\">{}</p>\n<nav>",
        escape(title),
        escape(title),
        escape(subtitle)
    );
    for s in sections {
        let _ = write!(
            h,
            "<a href=\"#{}\">{}</a>",
            escape(&s.id),
            escape(&s.heading)
        );
    }
    h.push_str("</nav>\n");
    for s in sections {
        let _ = write!(
            h,
            "<section id=\"{}\">\n<h2>{}</h2>\n{}\n</section>\n",
            escape(&s.id),
            escape(&s.heading),
            s.body
        );
    }
    let _ = write!(
        h,
        "<footer>Written by xpyd {}. Every number on this page comes from the CSV and JSON files beside it; <code>xpyd report DIR</code> rebuilds this page from them.</footer>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION")
    );
    h
}

/// A two-column table of label and value.
pub fn key_values(rows: &[(String, String)]) -> String {
    let mut h = String::from("<table>\n");
    for (k, v) in rows {
        let _ = writeln!(h, "<tr><th>{}</th><td>{}</td></tr>", escape(k), escape(v));
    }
    h.push_str("</table>");
    h
}

/// A table with a header; cells that parse as numbers are right-aligned.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut h = String::from("<table>\n<tr>");
    for c in header {
        let _ = write!(h, "<th>{}</th>", escape(c));
    }
    h.push_str("</tr>\n");
    for r in rows {
        h.push_str("<tr>");
        for c in r {
            let numeric = c.starts_with(|ch: char| ch.is_ascii_digit()) || c == "-";
            let _ = write!(
                h,
                "<td{}>{}</td>",
                if numeric { " class=\"n\"" } else { "" },
                escape(c)
            );
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>");
    h
}

/// A chart with its caption.
pub fn figure(svg: &str, caption: &str) -> String {
    format!(
        "<figure>\n{}\n<figcaption>{}</figcaption>\n</figure>",
        svg.trim(),
        escape(caption)
    )
}

/// A paragraph of text.
pub fn para(text: &str) -> String {
    format!("<p>{}</p>", escape(text))
}

/// `yes` in green or `no` in red.
pub fn verdict(ok: bool) -> String {
    if ok {
        "<span class=\"ok\">yes</span>".to_string()
    } else {
        "<span class=\"bad\">no</span>".to_string()
    }
}

/// The assumptions section: where the step costs come from, term by term.
pub fn assumptions(a: Option<&Assumptions>, cost_source: &str) -> String {
    let mut h = String::new();
    h.push_str(&para(&format!(
        "Step costs: {cost_source}. A term marked calibrated, extrapolated or borrowed comes from kernels measured on a GPU (the profile below); roofline means peak FLOP/s and bandwidth times the stated efficiencies; none means the term is zero for that step."
    )));
    let Some(a) = a else {
        h.push_str(&para(
            "assumptions.json is not in this folder: the per-term sources are not shown.",
        ));
        return h;
    };
    h.push_str(&key_values(&[
        ("model".into(), a.model.clone()),
        ("GPU".into(), a.gpu.clone()),
        (
            "weights / KV cache".into(),
            format!("{} / {}", a.weights, a.kv_cache),
        ),
        (
            "calibration profile".into(),
            a.profile
                .clone()
                .unwrap_or_else(|| "none: every term from the roofline".into()),
        ),
        (
            "roofline efficiencies".into(),
            a.roofline_efficiencies.join(", "),
        ),
        ("engine layer".into(), a.engine_layer.join(", ")),
        ("KV transfer".into(), a.kv_transfer.clone()),
    ]));
    let mut rows = Vec::new();
    for r in &a.roles {
        for s in &r.steps {
            let mut row = vec![
                format!("{} (TP {})", r.role, r.tp),
                s.step.clone(),
                format!("{:.3}", s.ms),
            ];
            for t in &s.terms {
                row.push(if t.source == "none" {
                    "-".to_string()
                } else {
                    format!("{:.3} {}", t.ms, t.source)
                });
            }
            rows.push(row);
        }
    }
    let mut header = vec!["role", "step", "total ms"];
    let names: Vec<String> = a
        .roles
        .first()
        .and_then(|r| r.steps.first())
        .map(|s| s.terms.iter().map(|t| format!("{} ms", t.term)).collect())
        .unwrap_or_default();
    header.extend(names.iter().map(String::as_str));
    h.push_str(&table(&header, &rows));
    let mut eng = Vec::new();
    for r in &a.roles {
        eng.push(vec![
            r.role.clone(),
            r.replicas.to_string(),
            r.tp.to_string(),
            r.kv_capacity_tokens.to_string(),
            r.max_batched_tokens.to_string(),
            r.max_num_seqs.to_string(),
        ]);
    }
    h.push_str(&table(
        &[
            "role",
            "instances",
            "TP",
            "KV capacity per instance (tokens)",
            "token budget per step",
            "max running sequences",
        ],
        &eng,
    ));
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_has_no_external_resources() {
        let p = page("a <b>", "c & d", &[Section::new("x", "X", para("1 < 2"))]);
        assert!(p.contains("a &lt;b&gt;") && p.contains("c &amp; d") && p.contains("1 &lt; 2"));
        for bad in ["<script", "http://", "https://", "<link"] {
            assert!(!p.contains(bad), "{bad}");
        }
    }
}
