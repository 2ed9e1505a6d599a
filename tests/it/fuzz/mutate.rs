//! Mutations: byte-level edits and structured replacements of field values (TOML and JSON
//! leaves, CSV cells, JSONL fields) by extreme values. Positions and choices are `u32`s
//! taken modulo what the input has, so any mutation applies to any input and shrinking
//! removes mutations.

use proptest::collection::vec;
use proptest::prelude::*;

/// Extreme values, as literal text (TOML and JSON numbers, strings, nested values).
pub(crate) fn extremes() -> Vec<String> {
    let mut v: Vec<String> = [
        "0",
        "-1",
        "1",
        "2",
        "-0.0",
        "0.5",
        "1e308",
        "-1e308",
        "1.7976931348623157e308",
        "5e-324",
        "1e-300",
        "1e-9",
        "4e-10",
        "1e7",
        "1e10",
        "65535",
        "65536",
        "16777216",
        "16777217",
        "1000000",
        "4294967295",
        "4294967296",
        "9007199254740993",
        "9223372036854775807",
        "-9223372036854775808",
        "18446744073709551615",
        "18446744073709551616",
        "1e400",
        "nan",
        "inf",
        "-inf",
        "NaN",
        "\"NaN\"",
        "\"\"",
        "\"x\"",
        "\"builtin:nope\"",
        "\"../../etc/passwd\"",
        "\"/dev/zero\"",
        "\"$(HOME)\"",
        "\"\\u0000\"",
        "\"ü\"",
        "true",
        "false",
        "[]",
        "{}",
        "[0]",
        "[-1]",
        "[1e308]",
        "{kind=\"fixed\",tokens=0}",
        "{kind=\"normal\",mean=1e10,std=1}",
        "{kind=\"uniform\",min=1,max=4294967295}",
        "{kind=\"poisson\",rate-rps=1e308}",
        "{kind=\"shared-prompt\",prompts=1,tokens=4000000000,block-tokens=1}",
        "\"2023-11-16 18:15:46.6805900\"",
        "\"9999-99-99 99:99:99\"",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    v.push(format!("\"{}\"", "x".repeat(100_000)));
    v.push(format!("{}1{}", "[".repeat(64), "]".repeat(64)));
    v.push(format!("{}1{}", "[".repeat(5000), "]".repeat(5000)));
    v.push("9".repeat(400));
    v
}

/// Text fragments inserted by byte-level mutations.
const TOKENS: &[&str] = &[
    "=",
    "\n",
    "[",
    "]",
    "{",
    "}",
    ",",
    "\"",
    "'",
    ".",
    "-",
    "e308",
    "1e308",
    "-1",
    "0",
    "nan",
    "inf",
    "\n[a]\n",
    "\n[[x]]\n",
    "\0",
    "\u{feff}",
    "\r\n",
    "#",
    "9999999999999999999",
];

/// One edit.
#[derive(Clone, Debug)]
pub(crate) enum Mutation {
    /// Flip one bit of byte `at`.
    Flip { at: u32, bit: u8 },
    /// Insert a token at `at`.
    Token { at: u32, token: u32 },
    /// Insert random bytes.
    Insert { at: u32, bytes: Vec<u8> },
    /// Delete `len` bytes.
    Delete { at: u32, len: u16 },
    /// Repeat `len` bytes `times` times.
    Repeat { at: u32, len: u16, times: u8 },
    /// Cut the input at `at`.
    Truncate { at: u32 },
    /// Replace a leaf (TOML/JSON value, CSV cell, JSONL field) by an extreme value.
    Replace { leaf: u32, value: u32 },
    /// Remove a leaf (key, cell).
    Remove { leaf: u32 },
}

/// Any mutation, structured ones twice as likely.
pub(crate) fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        1 => (any::<u32>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        1 => (any::<u32>(), any::<u32>()).prop_map(|(at, token)| Mutation::Token { at, token }),
        1 => (any::<u32>(), vec(any::<u8>(), 1..8)).prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        1 => (any::<u32>(), 1u16..64).prop_map(|(at, len)| Mutation::Delete { at, len }),
        1 => (any::<u32>(), 1u16..64, 1u8..16).prop_map(|(at, len, times)| Mutation::Repeat { at, len, times }),
        1 => any::<u32>().prop_map(|at| Mutation::Truncate { at }),
        6 => (any::<u32>(), any::<u32>()).prop_map(|(leaf, value)| Mutation::Replace { leaf, value }),
        1 => any::<u32>().prop_map(|leaf| Mutation::Remove { leaf }),
    ]
}

/// A structured mutation: the input stays well-formed, a value changes.
pub(crate) fn structured() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        6 => (any::<u32>(), any::<u32>()).prop_map(|(leaf, value)| Mutation::Replace { leaf, value }),
        1 => any::<u32>().prop_map(|leaf| Mutation::Remove { leaf }),
    ]
}

/// A few mutations: half the time structured ones only (the input still parses, so the
/// checks after parsing run), else any.
pub(crate) fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    prop_oneof![vec(structured(), 1..4), vec(mutation(), 1..5)]
}

/// How an input is structured.
#[derive(Copy, Clone, Debug, PartialEq)]
pub(crate) enum Format {
    Toml,
    Json,
    Csv,
    Jsonl,
    Bytes,
}

fn pick<T>(v: &[T], i: u32) -> Option<&T> {
    (!v.is_empty()).then(|| &v[i as usize % v.len()])
}

const MARK: &str = "@@FUZZ@@";

/// Apply `muts` to `input` of `format`: structured edits first, then byte edits.
pub(crate) fn apply(format: Format, input: &[u8], muts: &[Mutation]) -> Vec<u8> {
    let ext = extremes();
    let structured: Vec<&Mutation> = muts
        .iter()
        .filter(|m| matches!(m, Mutation::Replace { .. } | Mutation::Remove { .. }))
        .collect();
    let mut out = input.to_vec();
    if !structured.is_empty() {
        out = match format {
            Format::Toml => toml_edit(input, &structured, &ext),
            Format::Json => json_edit(input, &structured, &ext),
            Format::Csv => csv_edit(input, &structured, &ext),
            Format::Jsonl => jsonl_edit(input, &structured, &ext),
            Format::Bytes => Some(input.to_vec()),
        }
        .unwrap_or(out);
    }
    for m in muts {
        bytes_edit(&mut out, m);
    }
    out
}

fn bytes_edit(b: &mut Vec<u8>, m: &Mutation) {
    let pos = |at: u32, n: usize| if n == 0 { 0 } else { at as usize % (n + 1) };
    match m {
        Mutation::Flip { at, bit } => {
            if !b.is_empty() {
                let i = *at as usize % b.len();
                b[i] ^= 1 << bit;
            }
        }
        Mutation::Token { at, token } => {
            let i = pos(*at, b.len());
            let t = TOKENS[*token as usize % TOKENS.len()].as_bytes();
            b.splice(i..i, t.iter().copied());
        }
        Mutation::Insert { at, bytes } => {
            let i = pos(*at, b.len());
            b.splice(i..i, bytes.iter().copied());
        }
        Mutation::Delete { at, len } => {
            let i = pos(*at, b.len());
            let j = (i + *len as usize).min(b.len());
            b.drain(i..j);
        }
        Mutation::Repeat { at, len, times } => {
            let i = pos(*at, b.len());
            let j = (i + *len as usize).min(b.len());
            let chunk = b[i..j].to_vec();
            for _ in 0..*times {
                b.splice(j..j, chunk.iter().copied());
            }
        }
        Mutation::Truncate { at } => {
            let i = pos(*at, b.len());
            b.truncate(i);
        }
        Mutation::Replace { .. } | Mutation::Remove { .. } => {}
    }
}

/// Paths of the leaves of a TOML table (keys, then array indices).
fn toml_leaves(t: &toml::Table, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    for (k, v) in t {
        prefix.push(k.clone());
        match v {
            toml::Value::Table(t) => {
                out.push(prefix.clone());
                toml_leaves(t, prefix, out);
            }
            _ => out.push(prefix.clone()),
        }
        prefix.pop();
    }
}

/// Leaf paths of a TOML document, for `--set` keys too.
pub(crate) fn toml_paths(text: &str) -> Vec<String> {
    let Ok(t) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    toml_leaves(&t, &mut Vec::new(), &mut out);
    out.into_iter().map(|p| p.join(".")).collect()
}

fn toml_parent<'t>(t: &'t mut toml::Table, path: &[String]) -> Option<&'t mut toml::Table> {
    match path.split_first() {
        None => Some(t),
        Some((k, rest)) => match t.get_mut(k) {
            Some(toml::Value::Table(next)) => toml_parent(next, rest),
            _ => None,
        },
    }
}

fn toml_edit(input: &[u8], muts: &[&Mutation], ext: &[String]) -> Option<Vec<u8>> {
    let mut t: toml::Table = std::str::from_utf8(input).ok()?.parse().ok()?;
    let mut leaves = Vec::new();
    toml_leaves(&t, &mut Vec::new(), &mut leaves);
    let mut literals = Vec::new();
    for m in muts {
        let (Mutation::Replace { leaf, .. } | Mutation::Remove { leaf }) = m else {
            continue;
        };
        let Some(path) = pick(&leaves, *leaf) else {
            continue;
        };
        let Some(cur) = toml_parent(&mut t, &path[..path.len() - 1]) else {
            continue;
        };
        let last = &path[path.len() - 1];
        match m {
            Mutation::Replace { value, .. } => {
                let lit = pick(ext, *value).cloned().unwrap_or_default();
                let mark = format!("{MARK}{}", literals.len());
                literals.push((format!("\"{mark}\""), lit));
                cur.insert(last.clone(), toml::Value::String(mark));
            }
            _ => {
                cur.remove(last);
            }
        }
    }
    let mut text = toml::to_string(&t).ok()?;
    for (mark, lit) in literals {
        text = text.replace(&mark, &lit);
    }
    Some(text.into_bytes())
}

fn json_leaves(v: &serde_json::Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                prefix.push(k.clone());
                out.push(prefix.clone());
                json_leaves(v, prefix, out);
                prefix.pop();
            }
        }
        serde_json::Value::Array(a) => {
            // Arrays of a calibration profile are long: a few of their elements suffice.
            for (i, v) in a.iter().enumerate().take(8) {
                prefix.push(format!("#{i}"));
                out.push(prefix.clone());
                json_leaves(v, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn json_at<'v>(v: &'v mut serde_json::Value, path: &[String]) -> Option<&'v mut serde_json::Value> {
    let mut cur = v;
    for k in path {
        cur = match k.strip_prefix('#') {
            Some(i) => cur.get_mut(i.parse::<usize>().ok()?)?,
            None => cur.get_mut(k)?,
        };
    }
    Some(cur)
}

fn json_value_edit(
    v: &mut serde_json::Value,
    muts: &[&Mutation],
    ext: &[String],
    literals: &mut Vec<(String, String)>,
) {
    let mut leaves = Vec::new();
    json_leaves(v, &mut Vec::new(), &mut leaves);
    for m in muts {
        let (Mutation::Replace { leaf, .. } | Mutation::Remove { leaf }) = m else {
            continue;
        };
        let Some(path) = pick(&leaves, *leaf).cloned() else {
            continue;
        };
        match m {
            Mutation::Replace { value, .. } => {
                let lit = pick(ext, *value).cloned().unwrap_or_default();
                // JSON has no TOML inline tables, nan or inf: those stay text (invalid JSON).
                let mark = format!("{MARK}{}", literals.len());
                literals.push((format!("\"{mark}\""), lit));
                if let Some(slot) = json_at(v, &path) {
                    *slot = serde_json::Value::String(mark);
                }
            }
            _ => {
                let (last, parent) = path.split_last().unwrap();
                if let Some(p) = json_at(v, parent) {
                    match (p, last.strip_prefix('#')) {
                        (serde_json::Value::Array(a), Some(i)) => {
                            if let Ok(i) = i.parse::<usize>()
                                && i < a.len()
                            {
                                a.remove(i);
                            }
                        }
                        (serde_json::Value::Object(o), None) => {
                            o.remove(last);
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

/// JSON-flavoured extremes: TOML inline tables become objects where they parse.
fn json_literal(lit: &str) -> String {
    if lit.starts_with('{') && lit.len() > 2 {
        let body = lit.trim_start_matches('{').trim_end_matches('}');
        let fields: Vec<String> = body
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| format!("\"{k}\":{v}"))
            .collect();
        return format!("{{{}}}", fields.join(","));
    }
    lit.to_owned()
}

fn json_edit(input: &[u8], muts: &[&Mutation], ext: &[String]) -> Option<Vec<u8>> {
    let mut v: serde_json::Value = serde_json::from_slice(input).ok()?;
    let mut literals = Vec::new();
    json_value_edit(&mut v, muts, ext, &mut literals);
    let mut text = serde_json::to_string_pretty(&v).ok()?;
    for (mark, lit) in literals {
        text = text.replace(&mark, &json_literal(&lit));
    }
    Some(text.into_bytes())
}

fn jsonl_edit(input: &[u8], muts: &[&Mutation], ext: &[String]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(input).ok()?;
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    if lines.is_empty() {
        return None;
    }
    for m in muts {
        let (Mutation::Replace { leaf, .. } | Mutation::Remove { leaf }) = m else {
            continue;
        };
        let i = *leaf as usize % lines.len();
        let Ok(mut v) = serde_json::from_str::<serde_json::Value>(&lines[i]) else {
            continue;
        };
        let mut literals = Vec::new();
        // The line's leaves: pick with the high bits so that the line and leaf vary apart.
        let shifted = match m {
            Mutation::Replace { leaf, value } => Mutation::Replace {
                leaf: leaf / lines.len().max(1) as u32,
                value: *value,
            },
            Mutation::Remove { leaf } => Mutation::Remove {
                leaf: leaf / lines.len().max(1) as u32,
            },
            _ => unreachable!(),
        };
        json_value_edit(&mut v, &[&shifted], ext, &mut literals);
        let mut line = serde_json::to_string(&v).ok()?;
        for (mark, lit) in literals {
            line = line.replace(&mark, &json_literal(&lit));
        }
        lines[i] = line;
    }
    Some((lines.join("\n") + "\n").into_bytes())
}

fn csv_edit(input: &[u8], muts: &[&Mutation], ext: &[String]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(input).ok()?;
    let mut rows: Vec<Vec<String>> = text
        .lines()
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    for m in muts {
        let (Mutation::Replace { leaf, .. } | Mutation::Remove { leaf }) = m else {
            continue;
        };
        let cells: usize = rows.iter().map(Vec::len).sum();
        if cells == 0 {
            break;
        }
        let mut k = *leaf as usize % cells;
        let (r, c) = rows
            .iter()
            .enumerate()
            .find_map(|(r, row)| {
                if k < row.len() {
                    Some((r, k))
                } else {
                    k -= row.len();
                    None
                }
            })
            .unwrap();
        match m {
            Mutation::Replace { value, .. } => {
                let lit = pick(ext, *value).cloned().unwrap_or_default();
                rows[r][c] = lit.trim_matches('"').to_owned();
            }
            _ => {
                rows[r].remove(c);
            }
        }
    }
    let lines: Vec<String> = rows.iter().map(|r| r.join(",")).collect();
    Some((lines.join("\n") + "\n").into_bytes())
}
