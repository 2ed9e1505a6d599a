//! Loading: the one way every command gets its scenario. [`Scenario::load_with`] reads a
//! file (or the built-in [`DEFAULT_SCENARIO`]), applies the command line's [`Overrides`]
//! and validates; [`load_file`] stops before validation, for the planner, which searches
//! over the wire form.
//!
//! Invariants: `--set KEY=VALUE` pairs are dotted TOML paths applied to the parsed
//! document first (the only textual edit); every dedicated flag is then applied to the
//! typed wire struct by [`Overrides::apply`], the only place flags change scenario values.
//! The offered rate goes through [`WorkloadFile::with_rate`], the wire face of
//! [`Workload::with_rate`](crate::workload::Workload::with_rate), so `run --rate`, `sweep`
//! and `plan` give a rate one meaning (a schedule is scaled by the same factor everywhere).
//! Errors name the file and the flag or field at fault, with the value and its range.

use super::error::workload_error;
use super::parse::{apply_overrides, parse_scenario_text, table_to_file};
use super::{Backend, RouterKind, Scenario, ScenarioError, ScenarioFile};
use crate::workload::{ArrivalFile, LengthFile, WorkloadFile};
use std::path::{Path, PathBuf};
use xpyd_models::file::{MAX_TEXT_FILE_BYTES, read_text};

/// The built-in default scenario: SGLang 2P1D Qwen3-32B on L20 with a chat workload
/// (`scenarios/seed-sglang-2p1d.toml`), run when a command is given no scenario file.
pub const DEFAULT_SCENARIO: &str = include_str!("../../../scenarios/seed-sglang-2p1d.toml");

/// How errors and reports name the built-in default scenario.
pub const DEFAULT_NAME: &str = "<built-in seed-sglang-2p1d>";

/// The file name the built-in default scenario is written under (e.g. in a ConfigMap).
pub const DEFAULT_FILE_NAME: &str = "seed-sglang-2p1d.toml";

/// The calibration-profile flags: `--profile FILE` or `--roofline`.
#[derive(Clone, Debug, PartialEq)]
pub enum ProfileOverride {
    /// `--roofline`: every step cost from the roofline.
    Roofline,
    /// `--profile FILE`: a profile file, relative to where the command runs (not to the
    /// scenario file).
    File(PathBuf),
}

/// The command line's changes to a scenario, in one typed value. Unset fields leave the
/// scenario's values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Overrides {
    /// `--set KEY=VALUE` pairs (dotted TOML paths), applied to the document first.
    pub sets: Vec<String>,
    /// `--seed`: the master seed.
    pub seed: Option<u64>,
    /// `--rate`: mean offered rate, requests/s (see [`WorkloadFile::with_rate`]).
    pub rate_rps: Option<f64>,
    /// `--requests`: requests to simulate (a trace replay's cap).
    pub requests: Option<u64>,
    /// `--router`: the router of every role and of the baseline.
    pub router: Option<RouterKind>,
    /// `--backend`: the serving stack.
    pub backend: Option<Backend>,
    /// `--profile` / `--roofline`: where step costs come from.
    pub profile: Option<ProfileOverride>,
    /// `--input-tokens`: a fixed prompt length, tokens.
    pub input_tokens: Option<u32>,
    /// `--output-tokens`: a fixed output length, tokens.
    pub output_tokens: Option<u32>,
}

/// A scenario's wire form with every override applied, and where it came from.
#[derive(Clone, Debug)]
pub struct LoadedFile {
    /// The file (or [`DEFAULT_NAME`]), naming the scenario in errors.
    pub file: PathBuf,
    /// Folder its relative paths resolve against.
    pub base_dir: PathBuf,
    /// The wire form.
    pub wire: ScenarioFile,
}

/// Read the scenario at `path` (the built-in default when `None`), apply `--set` pairs
/// and the dedicated flags of `ov`; not validated (see [`Scenario::load_with`]).
pub fn load_file(path: Option<&Path>, ov: &Overrides) -> Result<LoadedFile, ScenarioError> {
    let (file, base_dir, text) = match path {
        Some(p) => {
            let text = read_text(p, MAX_TEXT_FILE_BYTES).map_err(|source| ScenarioError::Io {
                file: p.to_path_buf(),
                source,
            })?;
            let base = p.parent().unwrap_or(Path::new(".")).to_path_buf();
            (p.to_path_buf(), base, text)
        }
        None => (
            PathBuf::from(DEFAULT_NAME),
            PathBuf::from("."),
            DEFAULT_SCENARIO.to_string(),
        ),
    };
    let mut wire = parse_file(&file, &text, &ov.sets)?;
    ov.apply(&file, &mut wire)?;
    Ok(LoadedFile {
        file,
        base_dir,
        wire,
    })
}

/// Parse scenario text and apply `--set` pairs: the wire form.
pub(super) fn parse_file(
    file: &Path,
    text: &str,
    sets: &[String],
) -> Result<ScenarioFile, ScenarioError> {
    let mut doc = parse_scenario_text(file, text)?;
    apply_overrides(file, &mut doc, sets)?;
    table_to_file(file, doc)
}

impl Scenario {
    /// The scenario of every command: read `path` (the built-in default when `None`),
    /// apply `ov` and validate.
    pub fn load_with(path: Option<&Path>, ov: &Overrides) -> Result<Scenario, ScenarioError> {
        let LoadedFile {
            file,
            base_dir,
            wire,
        } = load_file(path, ov)?;
        Scenario::from_file(&file, &base_dir, wire)
    }

    /// Read, override (`--set` pairs only) and validate a scenario file.
    pub fn load(file: &Path, sets: &[String]) -> Result<Scenario, ScenarioError> {
        let ov = Overrides {
            sets: sets.to_vec(),
            ..Overrides::default()
        };
        Scenario::load_with(Some(file), &ov)
    }

    /// Parse, override (`--set` pairs) and validate scenario text; `file` names it in
    /// errors and `base_dir` resolves relative paths.
    pub fn from_text(
        file: &Path,
        base_dir: &Path,
        text: &str,
        sets: &[String],
    ) -> Result<Scenario, ScenarioError> {
        Scenario::from_file(file, base_dir, parse_file(file, text, sets)?)
    }

    /// [`Scenario::from_text`] with the engine layer's parameters replaced by `engine`
    /// (when `Some`): what `xpyd calibrate fit-engine` replays candidates with.
    pub fn from_text_with_engine(
        file: &Path,
        base_dir: &Path,
        text: &str,
        engine: Option<&xpyd_models::EngineParams>,
    ) -> Result<Scenario, ScenarioError> {
        let mut wire = parse_file(file, text, &[])?;
        wire.deployment.engine_override = engine.cloned();
        Scenario::from_file(file, base_dir, wire)
    }
}

impl Overrides {
    /// Apply the dedicated flags (not the `--set` pairs) to the wire form of the scenario
    /// `file`. Errors name the flag, the value and what would be accepted.
    pub fn apply(&self, file: &Path, w: &mut ScenarioFile) -> Result<(), ScenarioError> {
        let Overrides {
            sets: _,
            seed,
            rate_rps,
            requests,
            router,
            backend,
            profile,
            input_tokens,
            output_tokens,
        } = self;
        let flag = |flag: &str, message: String| ScenarioError::Flag {
            file: file.to_path_buf(),
            flag: flag.to_string(),
            message,
        };
        if let Some(seed) = *seed {
            // Scenarios are written back as TOML, whose integers are signed.
            if i64::try_from(seed).is_err() {
                return Err(flag(
                    "--seed",
                    format!("{seed} must fit in a signed 64-bit integer"),
                ));
            }
            w.seed = Some(seed);
        }
        if let Some(b) = *backend {
            w.deployment.backend = Some(b);
        }
        if let Some(rate) = *rate_rps {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(flag(
                    "--rate",
                    format!("must be a positive number of requests/s, got {rate}"),
                ));
            }
            if w.workload.trace.is_none()
                && matches!(w.workload.arrival, Some(ArrivalFile::ClosedLoop { .. }))
            {
                return Err(flag(
                    "--rate",
                    "does not apply to closed-loop arrivals: set workload.arrival.clients instead"
                        .into(),
                ));
            }
            w.workload = w
                .workload
                .with_rate(rate)
                .map_err(|e| workload_error(file, e))?;
        }
        if let Some(r) = *router {
            let d = &mut w.deployment;
            for role in [d.prefill.as_mut(), d.decode.as_mut(), d.aggregated.as_mut()]
                .into_iter()
                .flatten()
            {
                role.router = Some(r);
            }
            w.baseline.router = Some(r);
        }
        match profile {
            Some(ProfileOverride::File(p)) => {
                // Relative to where the command runs, not to the scenario file.
                let abs = std::path::absolute(p)
                    .map_err(|e| flag("--profile", format!("{}: {e}", p.display())))?;
                w.hardware.profile = Some(abs.display().to_string());
            }
            Some(ProfileOverride::Roofline) => w.hardware.profile = Some("roofline".into()),
            None => {}
        }
        if let Some(n) = *requests {
            if i64::try_from(n).is_err() {
                return Err(flag("--requests", format!("{n} is too large")));
            }
            w.workload.requests = Some(n);
        }
        set_lengths(&mut w.workload, *input_tokens, *output_tokens)
            .map_err(|m| flag("--input-tokens/--output-tokens", m))?;
        Ok(())
    }
}

/// `--input-tokens` / `--output-tokens`: fixed lengths, replacing joint lengths only when
/// both are given.
fn set_lengths(
    w: &mut WorkloadFile,
    input: Option<u32>,
    output: Option<u32>,
) -> Result<(), String> {
    if input.is_none() && output.is_none() {
        return Ok(());
    }
    if w.trace.is_some() {
        return Err("cannot change a trace replay's lengths".into());
    }
    if w.lengths.is_some() {
        if input.is_none() || output.is_none() {
            return Err(
                "the scenario draws input and output lengths jointly ([workload.lengths]); give both --input-tokens and --output-tokens".into(),
            );
        }
        w.lengths = None;
    }
    if let Some(tokens) = input {
        w.input_tokens = Some(LengthFile::Fixed {
            tokens,
            jitter: None,
        });
    }
    if let Some(tokens) = output {
        w.output_tokens = Some(LengthFile::Fixed {
            tokens,
            jitter: None,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::Workload;

    const SCHEDULE: &str = r#"
[model]
id = "qwen3-8b"
[hardware]
gpu = "h100"
[deployment]
mode = "aggregated"
[deployment.aggregated]
replicas = 1
tp = 1
[workload]
requests = 100
[workload.arrival]
kind = "schedule"
interpolation = "step"
points = [{ at-s = 0, rate-rps = 3 }, { at-s = 300, rate-rps = 20 }, { at-s = 600, rate-rps = 3 }]
[workload.input-tokens]
kind = "fixed"
tokens = 100
[workload.output-tokens]
kind = "fixed"
tokens = 10
"#;

    fn wire(text: &str, sets: &[&str]) -> ScenarioFile {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        parse_file(Path::new("t.toml"), text, &sets).unwrap()
    }

    fn apply(ov: &Overrides, text: &str) -> Result<ScenarioFile, ScenarioError> {
        let mut w = wire(text, &[]);
        ov.apply(Path::new("t.toml"), &mut w)?;
        Ok(w)
    }

    #[test]
    fn rate_scales_a_schedule_as_the_sweep_does() {
        let ov = Overrides {
            rate_rps: Some(5.0),
            ..Overrides::default()
        };
        let w = apply(&ov, SCHEDULE).unwrap();
        let Some(ArrivalFile::Schedule { points, .. }) = &w.workload.arrival else {
            panic!("the schedule is kept");
        };
        // Mean over one period: (300 x 3 + 300 x 20) / 600 = 11.5 req/s.
        let f = 5.0 / 11.5;
        let rates: Vec<f64> = points.iter().map(|p| p.rate_rps).collect();
        assert_eq!(rates, vec![3.0 * f, 20.0 * f, 3.0 * f]);
        let base = Path::new(".");
        let direct = Workload::from_file(w.workload.clone(), base).unwrap();
        let swept = Workload::from_file(wire(SCHEDULE, &[]).workload, base)
            .unwrap()
            .with_rate(5.0)
            .unwrap();
        assert_eq!(direct, swept);
        assert_eq!(direct.rate_rps(), Some(5.0));
    }

    #[test]
    fn rate_sets_poisson_gamma_and_traces() {
        let ov = Overrides {
            rate_rps: Some(0.7),
            ..Overrides::default()
        };
        for (kind, extra) in [("poisson", ""), ("gamma", "cv = 2.0"), ("constant", "")] {
            let text = SCHEDULE.replace(
                "kind = \"schedule\"\ninterpolation = \"step\"\npoints = [{ at-s = 0, rate-rps = 3 }, { at-s = 300, rate-rps = 20 }, { at-s = 600, rate-rps = 3 }]",
                &format!("kind = \"{kind}\"\nrate-rps = 4.0\n{extra}"),
            );
            let w = apply(&ov, &text).unwrap();
            let wl = Workload::from_file(w.workload, Path::new(".")).unwrap();
            assert_eq!(wl.rate_rps(), Some(0.7), "{kind}");
        }
        let mut w = wire(SCHEDULE, &[]);
        w.workload.arrival = None;
        w.workload.input_tokens = None;
        w.workload.output_tokens = None;
        w.workload.trace = Some(crate::workload::TraceFile {
            format: crate::workload::TraceFormat::Mooncake,
            path: "builtin:mooncake-conversation".into(),
            time_scale: Some(0.5),
            rate_rps: None,
            start_s: None,
            tiles: None,
        });
        ov.apply(Path::new("t.toml"), &mut w).unwrap();
        let t = w.workload.trace.unwrap();
        assert_eq!((t.time_scale, t.rate_rps), (None, Some(0.7)));
    }

    #[test]
    fn bad_rates_name_the_flag_and_value() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let ov = Overrides {
                rate_rps: Some(bad),
                ..Overrides::default()
            };
            let e = apply(&ov, SCHEDULE).unwrap_err().to_string();
            assert!(e.contains("--rate") && e.contains("positive"), "{e}");
            assert!(e.contains(&format!("{bad}")), "{e}");
        }
        let closed = SCHEDULE.replace(
            "kind = \"schedule\"\ninterpolation = \"step\"\npoints = [{ at-s = 0, rate-rps = 3 }, { at-s = 300, rate-rps = 20 }, { at-s = 600, rate-rps = 3 }]",
            "kind = \"closed-loop\"\nclients = 4",
        );
        let ov = Overrides {
            rate_rps: Some(1.0),
            ..Overrides::default()
        };
        let e = apply(&ov, &closed).unwrap_err().to_string();
        assert!(e.contains("--rate") && e.contains("closed-loop"), "{e}");
    }

    #[test]
    fn flags_set_typed_fields_after_set_pairs() {
        let ov = Overrides {
            sets: vec![
                "seed=9".into(),
                "deployment.aggregated.router=\"random\"".into(),
            ],
            seed: Some(3),
            requests: Some(42),
            router: Some(RouterKind::LeastOutstanding),
            backend: Some(Backend::Vllm),
            profile: Some(ProfileOverride::Roofline),
            input_tokens: Some(7),
            output_tokens: None,
            rate_rps: None,
        };
        let mut w = wire(
            SCHEDULE,
            &["seed=9", "deployment.aggregated.router=\"random\""],
        );
        assert_eq!(w.seed, Some(9));
        ov.apply(Path::new("t.toml"), &mut w).unwrap();
        assert_eq!(w.seed, Some(3));
        assert_eq!(w.workload.requests, Some(42));
        let agg = w.deployment.aggregated.as_ref().unwrap();
        assert_eq!(agg.router, Some(RouterKind::LeastOutstanding));
        assert_eq!(w.baseline.router, Some(RouterKind::LeastOutstanding));
        assert!(w.deployment.prefill.is_none() && w.deployment.decode.is_none());
        assert_eq!(w.deployment.backend, Some(Backend::Vllm));
        assert_eq!(w.hardware.profile.as_deref(), Some("roofline"));
        assert_eq!(
            w.workload.input_tokens,
            Some(LengthFile::Fixed {
                tokens: 7,
                jitter: None
            })
        );
        assert_eq!(
            w.workload.output_tokens,
            Some(LengthFile::Fixed {
                tokens: 10,
                jitter: None
            })
        );
    }

    #[test]
    fn lengths_flags_and_joint_lengths() {
        let joint = SCHEDULE.replace(
            "[workload.input-tokens]\nkind = \"fixed\"\ntokens = 100\n[workload.output-tokens]\nkind = \"fixed\"\ntokens = 10\n",
            "[workload.lengths]\nkind = \"empirical-joint\"\npath = \"builtin:sharegpt\"\n",
        );
        let one = Overrides {
            input_tokens: Some(5),
            ..Overrides::default()
        };
        let e = apply(&one, &joint).unwrap_err().to_string();
        assert!(e.contains("--input-tokens") && e.contains("jointly"), "{e}");
        let both = Overrides {
            input_tokens: Some(5),
            output_tokens: Some(6),
            ..Overrides::default()
        };
        let w = apply(&both, &joint).unwrap();
        assert!(w.workload.lengths.is_none());
        assert_eq!(
            w.workload.output_tokens,
            Some(LengthFile::Fixed {
                tokens: 6,
                jitter: None
            })
        );
    }

    #[test]
    fn the_default_scenario_loads_with_overrides() {
        let ov = Overrides {
            seed: Some(5),
            rate_rps: Some(0.25),
            ..Overrides::default()
        };
        let sc = Scenario::load_with(None, &ov).unwrap();
        assert_eq!(sc.file, Path::new(DEFAULT_NAME));
        assert_eq!(sc.seed, 5);
        assert_eq!(sc.workload.rate_rps(), Some(0.25));
        let e = Scenario::load_with(Some(Path::new("no/such.toml")), &ov).unwrap_err();
        assert!(e.to_string().contains("no/such.toml"), "{e}");
    }
}
