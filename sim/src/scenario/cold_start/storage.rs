//! The storage and loading model of a cold start (`[cold-start]` with `mount` or
//! `preset`): where a replica's weights come from, how fast each hop is, and which caches
//! are warm.
//!
//! A replica's weight load runs up to three phases, in order:
//! 1. **Cache warm-up** (`mount = "distributed-cache"` only, while the dataset is cold):
//!    the cache workers copy one copy of the checkpoint from the store, at
//!    `min(store goodput, workers x worker bandwidth x efficiency)`. It happens once per
//!    run; replicas that start meanwhile wait for it, later ones find the cache warm.
//! 2. **Fetch** into host memory (page cache) through the mount: each replica's client
//!    reads at most `client-gb-s`, and the source (the store's goodput, the cache
//!    workers' aggregate, or the node's NVMe) is shared max-min fairly by the replicas
//!    reading it at the same time. `local-nvme` fetches from the store the first time on
//!    a node and from the node's NVMe afterwards.
//! 3. **Tensor load** host -> GPU: each GPU's loader process at
//!    `min(tensor-load-gb-s-per-gpu, pcie-gb-s-per-gpu)`, TP of them per replica.
//!
//! Fetch and tensor load are consecutive: vLLM's safetensors iterator reads a tensor,
//! then copies it, so reading through a mount without prefetch costs the sum of both
//! (`bytes / client + bytes / loader`), exactly what the two phases add up to.
//!
//! Invariants: every rate is finite and > 0 (validated against `crate::limits`);
//! efficiencies are in `[MIN_EFFICIENCY, 1]`. [`ColdStartConfig::load_phases`] is the
//! closed form for `n` identical replicas starting together, which the engine's
//! event-by-event model reproduces (tested in `sim/tests/cold_start.rs`).

use super::ColdStartConfig;
use serde::{Deserialize, Serialize};

/// Sources of the defaults below (also in `docs/autoscaling.md`).
///
/// TCP/IPv4 goodput over Ethernet at a 1500-byte MTU: each 1538 bytes on the wire
/// (preamble + SFD 8, header 14, FCS 4, inter-frame gap 12: IEEE 802.3) carry 1448 bytes
/// of payload (1500 - IPv4 20 (RFC 791) - TCP 20 (RFC 9293) - timestamps option 12
/// (RFC 7323)). A derived protocol constant, not a measurement.
pub const TCP_GOODPUT_FRACTION: f64 = 1448.0 / 1538.0;

/// ossfs 1.0 (1.91.4, `-o direct_read`) single-threaded sequential read of a 100 GB file,
/// GB/s: 355 MB/s on ecs.g7.32xlarge (Alibaba Cloud ACK, "ossfs 2.0 client stress test
/// performance"). A FUSE mount that the engine reads through, one stream per file.
pub const FUSE_CLIENT_GB_S: f64 = 0.355;

/// A FUSE/CSI client with parallel readers: ossfs 2.0 (2.0.0beta) sequential read with 4
/// threads, 7.1 GB/s on ecs.g7.32xlarge (same ACK document). Used for `csi` and for the
/// `distributed-cache` client: no measured JuiceFS client figure on GPU nodes was found,
/// and this is the nearest published multi-stream FUSE read rate on the same cloud.
pub const PARALLEL_CLIENT_GB_S: f64 = 7.1;

/// vLLM's safetensors loader from host storage, GB/s per GPU: DeepSeek-R1 (163 shards,
/// 688.6 GB = 641 GiB) on 8 x H200 read 114 of 163 shards in 39 s at 2.66 shards/s
/// (vllm-project/vllm#14965), so about 57.4 s in all: 688.6 GB / 8 / 57.4 s = 1.5 GB/s.
/// Far below PCIe: the loader's CPU work (deserialising, slicing), not the link, bounds it.
pub const TENSOR_LOAD_GB_S_PER_GPU: f64 = 1.5;

/// Host-to-device copy bound per GPU, GB/s: PCIe Gen5 x16, 55 GB/s measured pinned
/// copies on H100 and H200 (`calibrate/README.md`), taken as 50 as the engine always has.
pub const PCIE_GB_S_PER_GPU: f64 = 50.0;

/// Cache workers of the `fluid-cache` preset: the seed talk's JuiceFS distributed cache
/// ran on 16 cache pods (the talk is the only source).
pub const FLUID_CACHE_WORKERS: u32 = 16;

/// Network bandwidth of one cache worker, Gbit/s, in the `fluid-cache` preset. The talk
/// does not say what the cache pods ran on; 64 Gbit/s is the ECS instance Alibaba uses
/// for its own FUSE benchmarks (ecs.g9i.48xlarge, "ossfs 2.0 performance benchmarks").
/// An assumption: with 4 loaders it binds only below about 15.1 Gbit/s per worker.
pub const FLUID_CACHE_WORKER_GBIT_S: f64 = 64.0;

/// How a replica reaches the model store (`cold-start.mount`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MountKind {
    /// A FUSE mount of the object store (ossfs, s3fs) that the engine reads through.
    Fuse,
    /// A CSI volume with parallel readers (or a prefetch job) filling the page cache.
    Csi,
    /// The node's NVMe: filled from the store on a node's first load, read locally after.
    LocalNvme,
    /// A distributed cache (JuiceFS / Alluxio / JindoFS workers) in front of the store.
    DistributedCache,
}

impl MountKind {
    /// The name as written in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            MountKind::Fuse => "fuse",
            MountKind::Csi => "csi",
            MountKind::LocalNvme => "local-nvme",
            MountKind::DistributedCache => "distributed-cache",
        }
    }
}

/// A named set of defaults (`cold-start.preset`); explicit keys override it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ColdStartPreset {
    /// A plain ossfs mount read by the engine: `mount = "fuse"`.
    OssMount,
    /// Fluid prefetch of the dataset into the node before the engine loads:
    /// `mount = "csi"` (parallel readers).
    FluidPrefetch,
    /// Fluid with a JuiceFS distributed cache on 16 workers: `mount = "distributed-cache"`.
    FluidCache,
}

impl ColdStartPreset {
    /// The name as written in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            ColdStartPreset::OssMount => "oss-mount",
            ColdStartPreset::FluidPrefetch => "fluid-prefetch",
            ColdStartPreset::FluidCache => "fluid-cache",
        }
    }

    /// The mount it stands for.
    pub fn mount(self) -> MountKind {
        match self {
            ColdStartPreset::OssMount => MountKind::Fuse,
            ColdStartPreset::FluidPrefetch => MountKind::Csi,
            ColdStartPreset::FluidCache => MountKind::DistributedCache,
        }
    }

    /// Its cache workers and their bandwidth (Gbit/s), if it has a distributed cache.
    pub fn cache_workers(self) -> Option<(u32, f64)> {
        match self {
            ColdStartPreset::FluidCache => Some((FLUID_CACHE_WORKERS, FLUID_CACHE_WORKER_GBIT_S)),
            ColdStartPreset::OssMount | ColdStartPreset::FluidPrefetch => None,
        }
    }
}

/// A validated mount.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Mount {
    /// FUSE mount read through.
    Fuse,
    /// CSI volume with parallel readers.
    Csi,
    /// Node-local NVMe (cold on a node until its first load).
    LocalNvme,
    /// Distributed cache of `workers` workers, each with `worker_gbit_s` of network.
    DistributedCache {
        /// Cache workers (>= 1).
        workers: u32,
        /// Network bandwidth of one worker, Gbit/s (> 0).
        worker_gbit_s: f64,
    },
}

impl Mount {
    /// Its kind.
    pub fn kind(&self) -> MountKind {
        match self {
            Mount::Fuse => MountKind::Fuse,
            Mount::Csi => MountKind::Csi,
            Mount::LocalNvme => MountKind::LocalNvme,
            Mount::DistributedCache { .. } => MountKind::DistributedCache,
        }
    }
}

/// The storage and loading model (present when `[cold-start]` has `mount` or `preset`).
#[derive(Clone, Debug, PartialEq)]
pub struct StorageModel {
    /// The preset it started from, if any.
    pub preset: Option<ColdStartPreset>,
    /// The mount.
    pub mount: Mount,
    /// One replica's client throughput through the mount, GB/s (for `local-nvme`, the
    /// NVMe read rate).
    pub client_gb_s: f64,
    /// Fraction of a network link's bit rate delivered as payload (store and cache
    /// workers).
    pub network_efficiency: f64,
    /// Bytes one replica loads (`checkpoint-gib`); `None`: its weights in GPU memory.
    pub checkpoint_bytes: Option<f64>,
    /// Loader throughput host -> GPU per GPU, GB/s.
    pub tensor_load_gb_s_per_gpu: f64,
    /// Host-to-device copy bound per GPU, GB/s.
    pub pcie_gb_s_per_gpu: f64,
    /// Whether a node keeps the image's layers after its first pull.
    pub image_layer_cache: bool,
}

/// The weight-load phases of one replica, seconds.
#[derive(Copy, Clone, Debug, Default, PartialEq)]
pub struct LoadPhases {
    /// Waiting for the distributed cache to warm up (0 when warm or without one).
    pub cache_warmup_s: f64,
    /// Fetching into host memory through the mount.
    pub fetch_s: f64,
    /// Loading tensors host -> GPU.
    pub tensor_load_s: f64,
}

impl LoadPhases {
    /// The weight load in all, seconds.
    pub fn total_s(&self) -> f64 {
        self.cache_warmup_s + self.fetch_s + self.tensor_load_s
    }
}

impl StorageModel {
    /// One replica's client throughput, bytes/s.
    pub fn client_bytes_per_s(&self) -> f64 {
        self.client_gb_s * 1e9
    }

    /// The cache workers' payload bandwidth in each direction, bytes/s (`None` without a
    /// distributed cache).
    pub fn cache_bytes_per_s(&self) -> Option<f64> {
        match self.mount {
            Mount::DistributedCache {
                workers,
                worker_gbit_s,
            } => Some(f64::from(workers) * worker_gbit_s * 1e9 / 8.0 * self.network_efficiency),
            Mount::Fuse | Mount::Csi | Mount::LocalNvme => None,
        }
    }

    /// One GPU's host-to-device loading rate, bytes/s.
    pub fn tensor_bytes_per_s_per_gpu(&self) -> f64 {
        self.tensor_load_gb_s_per_gpu.min(self.pcie_gb_s_per_gpu) * 1e9
    }
}

impl ColdStartConfig {
    /// The shared store's payload bandwidth, bytes/s: `storage-gbit-s` times the storage
    /// model's network efficiency (1 without a storage model, as before it existed).
    pub fn store_bytes_per_s(&self) -> f64 {
        let eff = self.storage.as_ref().map_or(1.0, |s| s.network_efficiency);
        self.storage_gbit_s * 1e9 / 8.0 * eff
    }

    /// Closed form of the weight-load phases when `loaders` identical replicas (this one
    /// included; 0 counts as 1) of `tp` GPUs each start loading `bytes` together, one per
    /// node; `warm`: the mount's cache (the distributed cache's dataset, or the node's
    /// NVMe) already holds the weights. Max-min sharing gives identical flows equal rates,
    /// `min(client, source / n)`, so all finish together. `None` without a storage model.
    pub fn load_phases(&self, bytes: f64, tp: u32, loaders: u32, warm: bool) -> Option<LoadPhases> {
        let s = self.storage.as_ref()?;
        let n = f64::from(loaders.max(1));
        let client = s.client_bytes_per_s();
        let store = self.store_bytes_per_s();
        let (cache_warmup_s, source) = match s.mount {
            Mount::Fuse | Mount::Csi => (0.0, store),
            Mount::LocalNvme if warm => (0.0, f64::INFINITY),
            Mount::LocalNvme => (0.0, store),
            Mount::DistributedCache { .. } => {
                let cache = s.cache_bytes_per_s().expect("a distributed cache");
                let fill = if warm { 0.0 } else { bytes / store.min(cache) };
                (fill, cache)
            }
        };
        let fetch_s = bytes / client.min(source / n);
        let tensor_load_s = bytes / (f64::from(tp.max(1)) * s.tensor_bytes_per_s_per_gpu());
        Some(LoadPhases {
            cache_warmup_s,
            fetch_s,
            tensor_load_s,
        })
    }
}
