//! Cold start: how long a replica takes from creation to serving (`[cold-start]`).
//!
//! A new replica is ready after four phases, in order:
//! 1. `scheduling-s`: the scheduler binds the pod and the kubelet creates the sandbox
//!    (default 5 s; an assumption: seconds on an idle cluster with free GPUs).
//! 2. `image-pull-s`: pulling the serving image (default 60 s, about a 10-20 GB vLLM/SGLang
//!    image at 2-3 Gbit/s; set 0 when the image is cached on the node).
//! 3. Weight load: `weight_bytes` per replica from the shared model store at
//!    `storage-gbit-s` (default 100 Gbit/s) shared fairly by the replicas loading at the
//!    same time; or, with `local-cache = true` (a Fluid/JindoRuntime-style node-local cache,
//!    fluid-cloudnative.github.io), from the node's cache at `cache-gbit-s` (default
//!    200 Gbit/s) per node, assuming one loading replica per node and a warm cache.
//! 4. `warmup-s`: engine start-up after the weights: CUDA graph capture, torch.compile,
//!    KV-cache profiling (default 30 s; vLLM measures this in `vllm/benchmarks/startup.py`;
//!    reported captures take tens of seconds, e.g. 43 s for a 32K-token capture profile).
//!
//! The engine models weight loading event by event on its max-min fair network;
//! [`load_seconds`] is the closed form when `n` identical loaders start together, used by
//! tests and docs: `n x bytes / (storage bandwidth)` from the shared store.
//!
//! Invariants: bandwidths are finite and > 0; phase durations are integer [`SimDuration`]s
//! converted once, at validation, by the scenario's one field checker (`check::Validator`):
//! errors name the file, the field (`cold-start.warmup-s`), the value and the range.

use super::ScenarioError;
use super::check::Validator;
use crate::limits::LINK_RANGE;
use crate::time::SimDuration;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// `[cold-start]`: the serde mirror.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ColdStartFile {
    /// Scheduling and pod creation, seconds (default 5).
    pub scheduling_s: Option<f64>,
    /// Image pull, seconds (default 60; 0 when cached).
    pub image_pull_s: Option<f64>,
    /// Shared model-store bandwidth, Gbit/s, shared by concurrent loaders (default 100).
    pub storage_gbit_s: Option<f64>,
    /// Load weights from a node-local cache instead of the shared store (default false).
    pub local_cache: Option<bool>,
    /// Node-local cache bandwidth, Gbit/s per node (default 200).
    pub cache_gbit_s: Option<f64>,
    /// Warm-up after loading (CUDA graphs, compilation), seconds (default 30).
    pub warmup_s: Option<f64>,
}

/// A validated `[cold-start]`.
#[derive(Clone, Debug, PartialEq)]
pub struct ColdStartConfig {
    /// Scheduling and pod creation (ns).
    pub scheduling: SimDuration,
    /// Image pull (ns).
    pub image_pull: SimDuration,
    /// Shared model-store bandwidth, Gbit/s (> 0).
    pub storage_gbit_s: f64,
    /// Whether weights come from a node-local cache.
    pub local_cache: bool,
    /// Node-local cache bandwidth, Gbit/s per node (> 0).
    pub cache_gbit_s: f64,
    /// Warm-up (ns).
    pub warmup: SimDuration,
}

impl Default for ColdStartConfig {
    fn default() -> Self {
        ColdStartConfig {
            scheduling: SimDuration(5_000_000_000),
            image_pull: SimDuration(60_000_000_000),
            storage_gbit_s: 100.0,
            local_cache: false,
            cache_gbit_s: 200.0,
            warmup: SimDuration(30_000_000_000),
        }
    }
}

/// Validates `[cold-start]`; fields are named `cold-start.<key>`.
pub(super) fn cold_start_config(
    v: &Validator,
    f: &ColdStartFile,
) -> Result<ColdStartConfig, ScenarioError> {
    let ColdStartFile {
        scheduling_s,
        image_pull_s,
        storage_gbit_s,
        local_cache,
        cache_gbit_s,
        warmup_s,
    } = f;
    let d = ColdStartConfig::default();
    let dur = |key: &str, x: Option<f64>, default: SimDuration| match x {
        None => Ok(default),
        Some(x) => v.non_negative_secs_bounded(&format!("cold-start.{key}"), x),
    };
    Ok(ColdStartConfig {
        scheduling: dur("scheduling-s", *scheduling_s, d.scheduling)?,
        image_pull: dur("image-pull-s", *image_pull_s, d.image_pull)?,
        storage_gbit_s: v.f64_in(
            "cold-start.storage-gbit-s",
            storage_gbit_s.unwrap_or(d.storage_gbit_s),
            LINK_RANGE,
            "Gbit/s",
        )?,
        local_cache: local_cache.unwrap_or(d.local_cache),
        cache_gbit_s: v.f64_in(
            "cold-start.cache-gbit-s",
            cache_gbit_s.unwrap_or(d.cache_gbit_s),
            LINK_RANGE,
            "Gbit/s",
        )?,
        warmup: dur("warmup-s", *warmup_s, d.warmup)?,
    })
}

impl ColdStartConfig {
    /// Validates the `[cold-start]` section of scenario file `file` with the checks
    /// [`crate::scenario::Scenario::from_file`] runs; errors name `file`, the field
    /// (`cold-start.warmup-s`), the value and the range.
    pub fn from_file(file: &Path, wire: &ColdStartFile) -> Result<Self, ScenarioError> {
        cold_start_config(&Validator { file }, wire)
    }

    /// Bandwidth the weights come from, bytes/s: the node cache (per loader) or the shared
    /// store (to be shared by the concurrent loaders).
    pub fn source_bytes_per_s(&self) -> f64 {
        let gbit = if self.local_cache {
            self.cache_gbit_s
        } else {
            self.storage_gbit_s
        };
        gbit * 1e9 / 8.0
    }

    /// Time from creation to ready when `concurrent_loaders` replicas (this one included)
    /// load `weight_bytes` each at the same time, seconds.
    pub fn startup_seconds(&self, weight_bytes: u64, concurrent_loaders: u32) -> f64 {
        self.scheduling.as_secs_f64()
            + self.image_pull.as_secs_f64()
            + load_seconds(weight_bytes, concurrent_loaders, self)
            + self.warmup.as_secs_f64()
    }

    /// [`Self::startup_seconds`] as a duration (rounded to the nanosecond).
    pub fn startup(&self, weight_bytes: u64, concurrent_loaders: u32) -> SimDuration {
        SimDuration::from_secs_f64(self.startup_seconds(weight_bytes, concurrent_loaders))
    }
}

/// Seconds to load `weight_bytes` when `concurrent_loaders` replicas (this one included;
/// 0 counts as 1) start loading the same size together: with the shared store each gets a
/// fair share, so all finish after `n x bytes / bandwidth`; with a node-local cache each
/// reads its own node's cache at full speed.
pub fn load_seconds(weight_bytes: u64, concurrent_loaders: u32, cfg: &ColdStartConfig) -> f64 {
    let bytes = weight_bytes as f64;
    let sharing = if cfg.local_cache {
        1.0
    } else {
        f64::from(concurrent_loaders.max(1))
    };
    sharing * bytes / cfg.source_bytes_per_s()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    #[test]
    fn four_replicas_share_the_store() {
        let c = ColdStartConfig::default();
        let t = load_seconds(641 * GIB, 4, &c);
        // 4 x 641 GiB = 2753.2 GB over 12.5 GB/s = 220.3 s.
        let want = 4.0 * 641.0 * GIB as f64 / 12.5e9;
        assert!((t - want).abs() < 1e-9, "{t} vs {want}");
        assert!((t - 220.25).abs() < 0.1, "{t}");
        // One alone takes a quarter.
        assert!((load_seconds(641 * GIB, 1, &c) - want / 4.0).abs() < 1e-9);
    }

    #[test]
    fn local_cache_does_not_share() {
        let c = ColdStartConfig {
            local_cache: true,
            ..Default::default()
        };
        // 641 GiB at 25 GB/s, whatever the number of loaders.
        let want = 641.0 * GIB as f64 / 25e9;
        assert!((load_seconds(641 * GIB, 4, &c) - want).abs() < 1e-9);
    }

    #[test]
    fn startup_adds_the_phases() {
        let c = ColdStartConfig::default();
        let t = c.startup_seconds(641 * GIB, 4);
        let want = 5.0 + 60.0 + 4.0 * 641.0 * GIB as f64 / 12.5e9 + 30.0;
        assert!((t - want).abs() < 1e-9);
        assert_eq!(c.startup(0, 1), SimDuration(95_000_000_000));
    }

    #[test]
    fn validation_names_fields() {
        let file = Path::new("s.toml");
        let field = |e: ScenarioError| match e {
            ScenarioError::Invalid { field, .. } => field,
            other => panic!("not an Invalid error: {other:?}"),
        };
        let f = ColdStartFile {
            storage_gbit_s: Some(0.0),
            ..Default::default()
        };
        let e = ColdStartConfig::from_file(file, &f).unwrap_err();
        assert_eq!(field(e), "cold-start.storage-gbit-s");
        let f = ColdStartFile {
            warmup_s: Some(-1.0),
            ..Default::default()
        };
        let e = ColdStartConfig::from_file(file, &f).unwrap_err();
        assert_eq!(
            e.to_string(),
            "s.toml: cold-start.warmup-s: must be in [0, 10000000] seconds, got -1.0"
        );
        assert_eq!(field(e), "cold-start.warmup-s");
        assert_eq!(
            ColdStartConfig::from_file(file, &ColdStartFile::default()).unwrap(),
            ColdStartConfig::default()
        );
    }
}
