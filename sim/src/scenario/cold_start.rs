//! Cold start: how long a replica takes from creation to serving (`[cold-start]`).
//!
//! A new replica is ready after four phases, in order:
//! 1. `scheduling-s`: the scheduler binds the pod and the kubelet creates the sandbox
//!    (default 5 s; an assumption: seconds on an idle cluster with free GPUs).
//! 2. `image-pull-s`: pulling the serving image (default 60 s, about a 10-20 GB vLLM/SGLang
//!    image at 2-3 Gbit/s; set 0 when the image is cached on the node). With the storage
//!    model and `image-layer-cache = true`, only a node's first pull costs it.
//! 3. Weight load, in one of two models:
//!    - the link-rate bound (no `mount`, no `preset`; the default, unchanged): `weight_bytes`
//!      per replica from the shared model store at `storage-gbit-s` (default 100 Gbit/s)
//!      shared fairly by the replicas loading at the same time; or, with
//!      `local-cache = true` (a Fluid/JindoRuntime-style node-local cache,
//!      fluid-cloudnative.github.io), from the node's cache at `cache-gbit-s` (default
//!      200 Gbit/s) per node, assuming one loading replica per node and a warm cache;
//!    - the storage model (`mount` or `preset`, [`storage`]): per-replica client
//!      throughput, the store's goodput shared max-min, distributed-cache warm-up, fetch
//!      into host memory and tensor load host -> GPU, with cache state carried across
//!      scale events.
//! 4. `warmup-s`: engine start-up after the weights: CUDA graph capture, torch.compile,
//!    KV-cache profiling (default 30 s; vLLM measures this in `vllm/benchmarks/startup.py`;
//!    reported captures take tens of seconds, e.g. 43 s for a 32K-token capture profile).
//!
//! The engine models weight loading event by event on its max-min fair network;
//! [`load_seconds`] (link-rate bound) and [`ColdStartConfig::load_phases`] (storage model)
//! are the closed forms when `n` identical loaders start together, used by tests and docs.
//!
//! Invariants: bandwidths are finite and > 0; phase durations are integer [`SimDuration`]s
//! converted once, at validation, by the scenario's one field checker (`check::Validator`):
//! errors name the file, the field (`cold-start.warmup-s`), the value and the range. A
//! `[cold-start]` without `mount` and `preset` validates to exactly what it did before the
//! storage model existed (`storage: None`).

use super::ScenarioError;
use super::check::Validator;
use crate::limits::{CHECKPOINT_RANGE_GIB, GIB, LINK_RANGE, MAX_CACHE_WORKERS};
use crate::time::SimDuration;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub mod storage;

pub use storage::{ColdStartPreset, LoadPhases, Mount, MountKind, StorageModel};

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
    /// Defaults of the storage model: `oss-mount`, `fluid-prefetch` or `fluid-cache`.
    pub preset: Option<ColdStartPreset>,
    /// How replicas reach the store: `fuse`, `csi`, `local-nvme`, `distributed-cache`
    /// (enables the storage model; default: the preset's).
    pub mount: Option<MountKind>,
    /// One replica's client throughput through the mount, GB/s (`local-nvme`: the NVMe
    /// read rate, required).
    pub client_gb_s: Option<f64>,
    /// Fraction of a link's bit rate delivered as payload, store and cache workers
    /// (default 0.9415: TCP/IPv4 over 1500-byte-MTU Ethernet).
    pub network_efficiency: Option<f64>,
    /// Bytes one replica loads, GiB (default: its weights in GPU memory).
    pub checkpoint_gib: Option<f64>,
    /// Cache workers of a distributed cache.
    pub cache_workers: Option<u32>,
    /// Network bandwidth of one cache worker, Gbit/s.
    pub cache_worker_gbit_s: Option<f64>,
    /// Loader throughput host -> GPU per GPU, GB/s (default 1.5).
    pub tensor_load_gb_s_per_gpu: Option<f64>,
    /// Host-to-device copy bound per GPU, GB/s (default 50).
    pub pcie_gb_s_per_gpu: Option<f64>,
    /// Whether a node keeps the image's layers after its first pull (default false).
    pub image_layer_cache: Option<bool>,
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
    /// The storage and loading model (`None`: the single link-rate bound above).
    pub storage: Option<StorageModel>,
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
            storage: None,
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
        preset: _,
        mount: _,
        client_gb_s: _,
        network_efficiency: _,
        checkpoint_gib: _,
        cache_workers: _,
        cache_worker_gbit_s: _,
        tensor_load_gb_s_per_gpu: _,
        pcie_gb_s_per_gpu: _,
        image_layer_cache: _,
    } = f;
    let d = ColdStartConfig::default();
    let dur = |key: &str, x: Option<f64>, default: SimDuration| match x {
        None => Ok(default),
        Some(x) => v.non_negative_secs_bounded(&format!("cold-start.{key}"), x),
    };
    let storage = storage_model(v, f)?;
    if storage.is_some() {
        // The legacy node cache and the storage model are two answers to one question.
        if *local_cache == Some(true) {
            return Err(v.invalid(
                "cold-start.local-cache",
                "the always-warm node cache cannot be combined with `mount` or `preset`; \
                 use mount = \"local-nvme\" (cold on a node until its first load)",
            ));
        }
        if cache_gbit_s.is_some() {
            return Err(v.invalid(
                "cold-start.cache-gbit-s",
                "belongs to `local-cache`, which `mount` or `preset` replaces; \
                 set client-gb-s instead",
            ));
        }
    }
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
        storage,
    })
}

/// The storage model of `[cold-start]`: `None` unless `mount` or `preset` is set (then
/// no other storage key may be). Explicit keys override the preset's defaults.
fn storage_model(v: &Validator, f: &ColdStartFile) -> Result<Option<StorageModel>, ScenarioError> {
    let ColdStartFile {
        preset,
        mount,
        client_gb_s,
        network_efficiency,
        checkpoint_gib,
        cache_workers,
        cache_worker_gbit_s,
        tensor_load_gb_s_per_gpu,
        pcie_gb_s_per_gpu,
        image_layer_cache,
        ..
    } = f;
    let kind = match (mount, preset) {
        (Some(m), _) => *m,
        (None, Some(p)) => p.mount(),
        (None, None) => {
            let set = [
                ("client-gb-s", client_gb_s.is_some()),
                ("network-efficiency", network_efficiency.is_some()),
                ("checkpoint-gib", checkpoint_gib.is_some()),
                ("cache-workers", cache_workers.is_some()),
                ("cache-worker-gbit-s", cache_worker_gbit_s.is_some()),
                (
                    "tensor-load-gb-s-per-gpu",
                    tensor_load_gb_s_per_gpu.is_some(),
                ),
                ("pcie-gb-s-per-gpu", pcie_gb_s_per_gpu.is_some()),
                ("image-layer-cache", image_layer_cache.is_some()),
            ];
            if let Some((key, _)) = set.iter().find(|(_, is_set)| *is_set) {
                return Err(v.invalid(
                    &format!("cold-start.{key}"),
                    "is part of the storage model: set cold-start.mount or cold-start.preset too",
                ));
            }
            return Ok(None);
        }
    };
    let link =
        |key: &str, x: f64, unit: &str| v.f64_in(&format!("cold-start.{key}"), x, LINK_RANGE, unit);
    let client_default = match kind {
        MountKind::Fuse => Some(storage::FUSE_CLIENT_GB_S),
        MountKind::Csi | MountKind::DistributedCache => Some(storage::PARALLEL_CLIENT_GB_S),
        MountKind::LocalNvme => None,
    };
    let client_gb_s = match (*client_gb_s, client_default) {
        (Some(x), _) | (None, Some(x)) => link("client-gb-s", x, "GB/s")?,
        (None, None) => {
            return Err(v.invalid(
                "cold-start.client-gb-s",
                "required with mount = \"local-nvme\": the node's NVMe read rate, GB/s",
            ));
        }
    };
    let mount = match kind {
        MountKind::Fuse | MountKind::Csi | MountKind::LocalNvme => {
            for (key, is_set) in [
                ("cache-workers", cache_workers.is_some()),
                ("cache-worker-gbit-s", cache_worker_gbit_s.is_some()),
            ] {
                if is_set {
                    return Err(v.invalid(
                        &format!("cold-start.{key}"),
                        format!(
                            "only with mount = \"distributed-cache\", not \"{}\"",
                            kind.name()
                        ),
                    ));
                }
            }
            match kind {
                MountKind::Fuse => Mount::Fuse,
                MountKind::Csi => Mount::Csi,
                _ => Mount::LocalNvme,
            }
        }
        MountKind::DistributedCache => {
            let from_preset = preset.and_then(|p| p.cache_workers());
            let workers = cache_workers.or(from_preset.map(|c| c.0)).ok_or_else(|| {
                v.invalid(
                    "cold-start.cache-workers",
                    "required with mount = \"distributed-cache\" (or preset = \"fluid-cache\")",
                )
            })?;
            let worker_gbit_s = cache_worker_gbit_s
                .or(from_preset.map(|c| c.1))
                .ok_or_else(|| {
                    v.invalid(
                        "cold-start.cache-worker-gbit-s",
                        "required with mount = \"distributed-cache\" (or preset = \"fluid-cache\")",
                    )
                })?;
            Mount::DistributedCache {
                workers: v.count("cold-start.cache-workers", workers, 1..=MAX_CACHE_WORKERS)?,
                worker_gbit_s: link("cache-worker-gbit-s", worker_gbit_s, "Gbit/s")?,
            }
        }
    };
    Ok(Some(StorageModel {
        preset: *preset,
        mount,
        client_gb_s,
        network_efficiency: v.efficiency(
            "cold-start.network-efficiency",
            network_efficiency.unwrap_or(storage::TCP_GOODPUT_FRACTION),
        )?,
        checkpoint_bytes: match checkpoint_gib {
            None => None,
            Some(x) => {
                Some(v.f64_in("cold-start.checkpoint-gib", *x, CHECKPOINT_RANGE_GIB, "GiB")? * GIB)
            }
        },
        tensor_load_gb_s_per_gpu: link(
            "tensor-load-gb-s-per-gpu",
            tensor_load_gb_s_per_gpu.unwrap_or(storage::TENSOR_LOAD_GB_S_PER_GPU),
            "GB/s",
        )?,
        pcie_gb_s_per_gpu: link(
            "pcie-gb-s-per-gpu",
            pcie_gb_s_per_gpu.unwrap_or(storage::PCIE_GB_S_PER_GPU),
            "GB/s",
        )?,
        image_layer_cache: image_layer_cache.unwrap_or(false),
    }))
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
mod tests;
