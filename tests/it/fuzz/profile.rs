//! Target `profile`: calibration profiles (`hardware.profile`), Hugging Face
//! `config.json` files (`model.id`) and engine profiles (`deployment.engine-profile`),
//! mutated one at a time: parsed directly (no panic, an error with a message), then used
//! by a small scenario that is validated and simulated.

use super::mutate::{self, Format, Mutation};
use super::{corpus, guarded, nonempty, scratch};
use proptest::prelude::*;
use std::path::Path;
use xpyd_models::profile::Profile;
use xpyd_models::{EngineProfiles, ModelArch};
use xpyd_sim::Scenario;
use xpyd_sim::scenario::Overrides;

const TARGET: &str = "profile";

const SCENARIO: &str = r#"name = "fuzz-profile"
seed = 1
[model]
id = "config.json"
[hardware]
gpu = "h100"
profile = "profile.json"
[deployment]
backend = "sglang"
engine-profile = "engine.json"
[deployment.prefill]
replicas = 1
tp = 2
[deployment.decode]
replicas = 1
tp = 2
[workload]
requests = 30
[workload.arrival]
kind = "poisson"
rate-rps = 4.0
[workload.input-tokens]
kind = "uniform"
min = 1
max = 4000
[workload.output-tokens]
kind = "uniform"
min = 1
max = 200
"#;

/// Which file a case replaces.
#[derive(Copy, Clone, Debug, PartialEq)]
pub(crate) enum Kind {
    Profile,
    Config,
    Engine,
}

impl Kind {
    fn of(name: &str) -> Option<Kind> {
        if name.ends_with(".profile.json") {
            Some(Kind::Profile)
        } else if name.ends_with(".config.json") {
            Some(Kind::Config)
        } else if name.ends_with(".engine.json") {
            Some(Kind::Engine)
        } else {
            None
        }
    }

    fn file(self) -> &'static str {
        match self {
            Kind::Profile => "profile.json",
            Kind::Config => "config.json",
            Kind::Engine => "engine.json",
        }
    }
}

/// One input: the bytes of one of the three files; the others are the seeds.
#[derive(Clone)]
pub(crate) struct Case {
    kind: Kind,
    bytes: Vec<u8>,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{:?} ({} bytes)", self.kind, self.bytes.len())?;
        let text = String::from_utf8_lossy(&self.bytes);
        // A mutated calibration profile is long: its start and the mutated regions matter.
        if text.len() > 20_000 {
            let cut = (0..=20_000)
                .rev()
                .find(|&i| text.is_char_boundary(i))
                .unwrap_or(0);
            write!(f, "{}...", &text[..cut])
        } else {
            write!(f, "{text}")
        }
    }
}

struct Seeds {
    profiles: Vec<Vec<u8>>,
    configs: Vec<Vec<u8>>,
    engine: Vec<u8>,
}

fn seeds() -> Seeds {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let configs = corpus(TARGET)
        .into_iter()
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.starts_with("seed-") && n.ends_with(".config.json")
        })
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    Seeds {
        profiles: vec![std::fs::read(root.join("models/profiles/h100.json")).unwrap()],
        configs,
        engine: std::fs::read(root.join("models/profiles/engine.json")).unwrap(),
    }
}

fn check(dir: &Path, seeds: &Seeds, c: &Case) -> Result<(), String> {
    let text = String::from_utf8_lossy(&c.bytes);
    // The loaders alone.
    let direct = match c.kind {
        Kind::Profile => Profile::from_json_str(&text, "profile.json")
            .err()
            .map(|e| e.to_string()),
        Kind::Config => ModelArch::from_hf_config_str(&text, Path::new("config.json"))
            .err()
            .map(|e| e.to_string()),
        Kind::Engine => EngineProfiles::parse(&text).err().map(|e| e.to_string()),
    };
    if let Some(msg) = direct {
        nonempty(&msg)?;
    }
    // Through a scenario: the other files are the seeds.
    let write = |k: Kind, b: &[u8]| std::fs::write(dir.join(k.file()), b).unwrap();
    write(Kind::Profile, &seeds.profiles[0]);
    write(Kind::Config, &seeds.configs[0]);
    write(Kind::Engine, &seeds.engine);
    write(c.kind, &c.bytes);
    let file = dir.join("fuzz.toml");
    std::fs::write(&file, SCENARIO).unwrap();
    match Scenario::load_with(Some(&file), &Overrides::default()) {
        Ok(sc) => super::scenario::simulate(dir, &sc),
        Err(e) => super::scenario::check_error(&file, &e),
    }
}

fn strategy() -> impl Strategy<Value = (u8, u32, Vec<Mutation>)> {
    (0u8..3, any::<u32>(), mutate::mutations())
}

fn build(seeds: &Seeds, (k, i, muts): &(u8, u32, Vec<Mutation>)) -> Case {
    let (kind, seed) = match k {
        0 => (
            Kind::Profile,
            &seeds.profiles[*i as usize % seeds.profiles.len()],
        ),
        1 => (
            Kind::Config,
            &seeds.configs[*i as usize % seeds.configs.len()],
        ),
        _ => (Kind::Engine, &seeds.engine),
    };
    Case {
        kind,
        bytes: mutate::apply(Format::Json, seed, muts),
    }
}

#[test]
fn generated() {
    let seeds = std::sync::Arc::new(seeds());
    let dir = scratch("profile-gen");
    let _cleanup = super::Cleanup(dir.clone());
    super::generated(TARGET, 150, strategy(), |v| {
        let c = build(&seeds, v);
        let dir = dir.clone();
        let seeds = seeds.clone();
        guarded(TARGET, c, move |c| check(&dir, &seeds, &c))
    });
}

#[test]
fn corpus_replay() {
    let dir = scratch("profile-corpus");
    let _cleanup = super::Cleanup(dir.clone());
    let seeds = std::sync::Arc::new(seeds());
    for p in corpus(TARGET) {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let kind = Kind::of(&name).unwrap_or_else(|| panic!("{name}: unknown kind of file"));
        let c = Case {
            kind,
            bytes: std::fs::read(&p).unwrap(),
        };
        let dir = dir.clone();
        let seeds = seeds.clone();
        guarded(TARGET, c, move |c| check(&dir, &seeds, &c)).unwrap();
    }
}
