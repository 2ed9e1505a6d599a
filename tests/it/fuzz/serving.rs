//! Target `serving`: measured-serving files (silicon CSV, vLLM bench JSON, AIPerf and
//! inference-perf exports), mutated and read by `xpyd_sim::serving::read`: no panic, and
//! an error with a message naming the file.

use super::mutate::{self, Format, Mutation};
use super::{corpus, guarded, nonempty, scratch};
use proptest::prelude::*;
use std::path::{Path, PathBuf};

const TARGET: &str = "serving";

#[derive(Clone)]
pub(crate) struct Case {
    name: String,
    bytes: Vec<u8>,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{} ({} bytes)", self.name, self.bytes.len())?;
        write!(f, "{}", String::from_utf8_lossy(&self.bytes))
    }
}

fn format_of(name: &str) -> Format {
    if name.ends_with(".csv") {
        Format::Csv
    } else {
        Format::Json
    }
}

fn seeds() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/serving");
    let mut v: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v.extend(corpus(TARGET));
    v
}

fn check(dir: &Path, c: &Case) -> Result<(), String> {
    let p = dir.join(&c.name);
    std::fs::write(&p, &c.bytes).unwrap();
    match xpyd_sim::serving::read(&p) {
        Ok(_) => Ok(()),
        Err(e) => {
            let msg = e.to_string();
            nonempty(&msg)?;
            if !msg.contains(&c.name) {
                return Err(format!("the error does not name the file: {msg}"));
            }
            Ok(())
        }
    }
}

fn name(p: &Path) -> String {
    let n = p.file_name().unwrap().to_string_lossy().into_owned();
    if n.ends_with(".csv") {
        "measured.csv".into()
    } else {
        "measured.json".into()
    }
}

#[test]
fn generated() {
    let seeds: Vec<(String, Vec<u8>)> = seeds()
        .iter()
        .map(|p| (name(p), std::fs::read(p).unwrap()))
        .collect();
    let dir = scratch("serving-gen");
    let _cleanup = super::Cleanup(dir.clone());
    super::generated(
        TARGET,
        300,
        (any::<u32>(), mutate::mutations()),
        |(i, muts): &(u32, Vec<Mutation>)| {
            let (name, seed) = &seeds[*i as usize % seeds.len()];
            let c = Case {
                name: name.clone(),
                bytes: mutate::apply(format_of(name), seed, muts),
            };
            let dir = dir.clone();
            guarded(TARGET, c, move |c| check(&dir, &c))
        },
    );
}

#[test]
fn corpus_replay() {
    let dir = scratch("serving-corpus");
    let _cleanup = super::Cleanup(dir.clone());
    for p in seeds() {
        let c = Case {
            name: name(&p),
            bytes: std::fs::read(&p).unwrap(),
        };
        let dir = dir.clone();
        guarded(TARGET, c, move |c| check(&dir, &c)).unwrap();
    }
}
