//! Target `trace`: Azure 2023 CSV and Mooncake JSONL traces and length CSVs (joint and
//! one-column), plain or gzip-compressed, mutated and replayed by a small scenario: no
//! panic, no hang, and an error names the data file.

use super::mutate::{self, Format, Mutation};
use super::{corpus, guarded, scratch};
use proptest::prelude::*;
use std::io::Write;
use std::path::Path;
use xpyd_sim::Scenario;
use xpyd_sim::scenario::Overrides;

const TARGET: &str = "trace";

const HEAD: &str = r#"name = "fuzz-trace"
seed = 1
[model]
id = "qwen3-8b"
[hardware]
gpu = "h100"
[deployment]
backend = "sglang"
[deployment.prefill]
replicas = 1
tp = 1
[deployment.decode]
replicas = 1
tp = 1
[workload]
requests = 50
"#;

/// The kinds of data file, by corpus suffix.
#[derive(Copy, Clone, Debug)]
pub(crate) enum Kind {
    Azure,
    Mooncake,
    Joint,
    Column,
}

impl Kind {
    fn of(name: &str) -> Option<Kind> {
        let name = name.trim_end_matches(".gz");
        if name.ends_with(".azure.csv") {
            Some(Kind::Azure)
        } else if name.ends_with(".mooncake.jsonl") {
            Some(Kind::Mooncake)
        } else if name.ends_with(".lengths.csv") {
            Some(Kind::Joint)
        } else if name.ends_with(".column.csv") {
            Some(Kind::Column)
        } else {
            None
        }
    }

    fn format(self) -> Format {
        match self {
            Kind::Mooncake => Format::Jsonl,
            _ => Format::Csv,
        }
    }

    /// The scenario reading `data` (the file name).
    fn scenario(self, data: &str) -> String {
        let tail = match self {
            Kind::Azure => {
                format!("[workload.trace]\nformat = \"azure-2023\"\npath = \"{data}\"\n")
            }
            Kind::Mooncake => {
                format!("[workload.trace]\nformat = \"mooncake\"\npath = \"{data}\"\n")
            }
            Kind::Joint => format!(
                "[workload.arrival]\nkind = \"poisson\"\nrate-rps = 4.0\n[workload.lengths]\nkind = \"empirical-joint\"\npath = \"{data}\"\ninput-column = \"num_prefill_tokens\"\noutput-column = \"num_decode_tokens\"\n"
            ),
            Kind::Column => format!(
                "[workload.arrival]\nkind = \"poisson\"\nrate-rps = 4.0\n[workload.input-tokens]\nkind = \"empirical\"\npath = \"{data}\"\ncolumn = \"num_prefill_tokens\"\n[workload.output-tokens]\nkind = \"empirical\"\npath = \"{data}\"\ncolumn = \"num_decode_tokens\"\n"
            ),
        };
        format!("{HEAD}{tail}")
    }
}

/// One input: a data file of a kind, its bytes as written.
#[derive(Clone)]
pub(crate) struct Case {
    kind: Kind,
    /// File name (`.gz` when compressed).
    name: String,
    bytes: Vec<u8>,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{:?} {} ({} bytes)",
            self.kind,
            self.name,
            self.bytes.len()
        )?;
        write!(f, "{}", String::from_utf8_lossy(&self.bytes))
    }
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn check(dir: &Path, c: &Case) -> Result<(), String> {
    std::fs::write(dir.join(&c.name), &c.bytes).unwrap();
    let file = dir.join("fuzz.toml");
    std::fs::write(&file, c.kind.scenario(&c.name)).unwrap();
    let sc = match Scenario::load_with(Some(&file), &Overrides::default()) {
        Ok(sc) => sc,
        Err(e) => return super::scenario::check_error(&file, &e),
    };
    let r = super::scenario::simulate(dir, &sc);
    // Errors come as `Ok` from `simulate` when they have a message; check they name the file.
    let out = dir.join("out");
    let _ = std::fs::remove_dir_all(out);
    r
}

fn seeds() -> Vec<(Kind, String, Vec<u8>)> {
    corpus(TARGET)
        .into_iter()
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("seed-")
        })
        .filter_map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            Some((Kind::of(&name)?, name, std::fs::read(&p).unwrap()))
        })
        .collect()
}

fn strategy() -> impl Strategy<Value = (u32, u8, bool, Vec<Mutation>)> {
    (any::<u32>(), 0u8..4, any::<bool>(), mutate::mutations())
}

fn build(
    seeds: &[(Kind, String, Vec<u8>)],
    (seed, gz, column, muts): &(u32, u8, bool, Vec<Mutation>),
) -> Case {
    let (kind, _, bytes) = &seeds[*seed as usize % seeds.len()];
    let kind = match kind {
        Kind::Joint if *column => Kind::Column,
        k => *k,
    };
    let ext = match kind {
        Kind::Mooncake => "jsonl",
        _ => "csv",
    };
    let (name, bytes) = match gz {
        // Compressed, then mutated: a broken gzip stream.
        0 => (
            format!("data.{ext}.gz"),
            mutate::apply(Format::Bytes, &gzip(bytes), muts),
        ),
        // Mutated, then compressed.
        1 => (
            format!("data.{ext}.gz"),
            gzip(&mutate::apply(kind.format(), bytes, muts)),
        ),
        _ => (
            format!("data.{ext}"),
            mutate::apply(kind.format(), bytes, muts),
        ),
    };
    Case { kind, name, bytes }
}

#[test]
fn generated() {
    let seeds = seeds();
    assert_eq!(seeds.len(), 5, "trace seeds");
    let dir = scratch("trace-gen");
    let _cleanup = super::Cleanup(dir.clone());
    super::generated(TARGET, 300, strategy(), |v| {
        let c = build(&seeds, v);
        let dir = dir.clone();
        guarded(TARGET, c, move |c| check(&dir, &c))
    });
}

#[test]
fn corpus_replay() {
    let dir = scratch("trace-corpus");
    let _cleanup = super::Cleanup(dir.clone());
    for p in corpus(TARGET) {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let kind = Kind::of(&name).unwrap_or_else(|| panic!("{name}: unknown kind of trace file"));
        let ext = match kind {
            Kind::Mooncake => "jsonl",
            _ => "csv",
        };
        let gz = if name.ends_with(".gz") { ".gz" } else { "" };
        let c = Case {
            kind,
            name: format!("data.{ext}{gz}"),
            bytes: std::fs::read(&p).unwrap(),
        };
        let dir = dir.clone();
        guarded(TARGET, c, move |c| check(&dir, &c)).unwrap();
    }
}
