//! Weight loading under the storage model (`[cold-start]` with `mount` or `preset`): each
//! starting replica runs cache warm-up (a distributed cache while it is cold), fetch into
//! host memory and tensor load host -> GPU as flows on the cold-start network, which
//! shares every port max-min fairly between the flows crossing it.
//!
//! Ports: the store (`storage-gbit-s` x efficiency, shared by every replica fetching from
//! it and by the cache fill), the cache workers in and out (workers x bandwidth x
//! efficiency each way), each node's NVMe (`client-gb-s`, `local-nvme`), and per replica
//! its client (`client-gb-s`), its loaders (TP x `tensor-load-gb-s-per-gpu`) and its
//! GPUs' PCIe (TP x `pcie-gb-s-per-gpu`, the instance's load port).
//!
//! Invariants:
//! - A replica has at most one flow, keyed [`LoadFlow::Replica`]; its [`Stage`] says which.
//! - The distributed cache fills at most once per run ([`LoadFlow::CacheFill`]); replicas
//!   that reach their load meanwhile wait in `waiting` and fetch when it completes.
//! - Cache state only warms: a node's NVMe after its first completed fetch, a node's image
//!   layers when its first pull completes (a start during that pull waits for it), the
//!   dataset after its fill. Nothing here evicts.
//! - A cancelled start bumps the instance's epoch: its flow is cancelled by the caller, a
//!   waiting entry of an old epoch is dropped, and no record is written for it.

use super::{ColdStartRecord, Simulation};
use crate::event::Event;
use crate::id::{IdVec, InstanceId, PortId};
use crate::instance::{Instance, Lifecycle};
use crate::kv_transfer::Network;
use crate::scenario::{Mount, StorageModel};
use crate::time::{SimDuration, SimTime};

/// A flow of the cold-start network.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum LoadFlow {
    /// A replica's weight load (either model) or one of its phases (storage model).
    Replica(InstanceId),
    /// The distributed cache copying the checkpoint from the store.
    CacheFill,
}

/// Where a starting replica's load is.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Stage {
    /// Not loading.
    Idle,
    /// Waiting for the distributed cache to warm up.
    WaitingForCache,
    /// Fetching into host memory.
    Fetch,
    /// Loading tensors onto the GPUs.
    TensorLoad,
}

/// The distributed cache's dataset.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Dataset {
    Cold,
    Filling,
    Warm,
}

/// One replica's ports and the timing of its current start.
#[derive(Clone, Debug)]
struct Replica {
    /// Its client through the mount.
    client: PortId,
    /// Its loader processes (TP of them).
    host: PortId,
    stage: Stage,
    /// Bytes it loads.
    bytes: f64,
    requested: SimTime,
    image_pull: SimDuration,
    load_start: SimTime,
    fetch_start: SimTime,
    tensor_start: SimTime,
    tensor_end: SimTime,
}

/// State of the storage model for one run.
pub(super) struct Loading {
    model: StorageModel,
    /// The distributed cache's ports (in from the store, out to the clients).
    cache: Option<(PortId, PortId)>,
    dataset: Dataset,
    /// Replicas waiting for the cache fill, with the epoch of their start.
    waiting: Vec<(InstanceId, u32)>,
    /// Per node: its NVMe port (`local-nvme`).
    nvme: Vec<PortId>,
    /// Per node: whether its NVMe holds the weights.
    nvme_warm: Vec<bool>,
    /// Per node: when its image pull completes (or completed), once one has started.
    image_ready: Vec<Option<SimTime>>,
    replicas: IdVec<InstanceId, Replica>,
    /// Completed starts, in the order they became ready.
    records: Vec<ColdStartRecord>,
}

impl Loading {
    /// The storage model's ports on `net` for `insts` packed on `nodes` nodes.
    pub(super) fn new(
        model: &StorageModel,
        net: &mut Network<LoadFlow>,
        insts: &IdVec<InstanceId, Instance>,
        nodes: u32,
    ) -> Loading {
        let cache = model
            .cache_bytes_per_s()
            .map(|bw| (net.add_port(bw), net.add_port(bw)));
        let nvme = match model.mount {
            Mount::LocalNvme => (0..nodes)
                .map(|_| net.add_port(model.client_bytes_per_s()))
                .collect(),
            Mount::Fuse | Mount::Csi | Mount::DistributedCache { .. } => Vec::new(),
        };
        let replicas = insts
            .iter()
            .map(|x| Replica {
                client: net.add_port(model.client_bytes_per_s()),
                host: net.add_port(f64::from(x.tp()) * model.tensor_bytes_per_s_per_gpu()),
                stage: Stage::Idle,
                bytes: 0.0,
                requested: SimTime::ZERO,
                image_pull: SimDuration::ZERO,
                load_start: SimTime::ZERO,
                fetch_start: SimTime::ZERO,
                tensor_start: SimTime::ZERO,
                tensor_end: SimTime::ZERO,
            })
            .collect();
        Loading {
            model: model.clone(),
            cache,
            dataset: Dataset::Cold,
            waiting: Vec::new(),
            nvme,
            nvme_warm: vec![false; nodes as usize],
            image_ready: vec![None; nodes as usize],
            replicas,
            records: Vec::new(),
        }
    }

    /// Completed starts, in the order they became ready.
    pub(super) fn into_records(self) -> Vec<ColdStartRecord> {
        self.records
    }
}

impl Simulation<'_> {
    /// A replica starts now and will load `bytes` (its weights, unless `checkpoint-gib`
    /// says otherwise): its image pull, which starts after scheduling. Without the storage
    /// model or `image-layer-cache`, always `image-pull-s`; with it, a node's first pull
    /// costs `image-pull-s`, a start during that pull waits for it, and later ones find the
    /// layers cached (0).
    pub(super) fn prepare_load(&mut self, i: InstanceId, bytes: f64) -> SimDuration {
        let full = self.sc.cold_start.image_pull;
        let now = self.now;
        let pull_start = now + self.sc.cold_start.scheduling;
        let node = self.insts[i].node() as usize;
        let Some(l) = self.loading.as_mut() else {
            return full;
        };
        let pull = match l.image_ready[node] {
            Some(ready) if l.model.image_layer_cache => {
                SimDuration(ready.as_nanos().saturating_sub(pull_start.as_nanos()))
            }
            Some(_) | None => {
                l.image_ready[node] = Some(pull_start + full);
                full
            }
        };
        let r = &mut l.replicas[i];
        r.stage = Stage::Idle;
        r.bytes = l.model.checkpoint_bytes.unwrap_or(bytes);
        r.requested = now;
        r.image_pull = pull;
        pull
    }

    /// Scheduling and image pull are done: fetch, after the cache warm-up if the
    /// distributed cache is cold.
    pub(super) fn begin_load(&mut self, i: InstanceId) {
        let now = self.now;
        let epoch = self.insts[i].epoch();
        let l = self.loading.as_mut().expect("storage model");
        l.replicas[i].load_start = now;
        match (l.cache, l.dataset) {
            (None, _) | (Some(_), Dataset::Warm) => self.start_fetch(i),
            (Some(_), Dataset::Filling) => {
                l.replicas[i].stage = Stage::WaitingForCache;
                l.waiting.push((i, epoch));
                return;
            }
            (Some((cache_in, _)), Dataset::Cold) => {
                l.replicas[i].stage = Stage::WaitingForCache;
                l.waiting.push((i, epoch));
                l.dataset = Dataset::Filling;
                let bytes = l.replicas[i].bytes;
                let port = self.storage_port;
                self.storage
                    .start(now, LoadFlow::CacheFill, port, cache_in, bytes, now);
            }
        }
        let generation = self.storage.generation();
        self.arm_storage_timer(generation);
    }

    /// Fetch replica `i`'s weights into host memory through the mount (the caller arms
    /// the storage timer).
    fn start_fetch(&mut self, i: InstanceId) {
        let now = self.now;
        let node = self.insts[i].node() as usize;
        let l = self.loading.as_mut().expect("storage model");
        let src = match (l.model.mount, l.cache) {
            (Mount::DistributedCache { .. }, Some((_, cache_out))) => cache_out,
            (Mount::LocalNvme, _) if l.nvme_warm[node] => l.nvme[node],
            _ => self.storage_port,
        };
        let r = &mut l.replicas[i];
        r.stage = Stage::Fetch;
        r.fetch_start = now;
        let (dst, bytes) = (r.client, r.bytes);
        self.storage
            .start(now, LoadFlow::Replica(i), src, dst, bytes, now);
    }

    /// A flow of the storage model finished: start the next phase, or warm-up (the caller
    /// arms the storage timer).
    pub(super) fn on_load_flow_done(&mut self, key: LoadFlow) {
        let now = self.now;
        match key {
            LoadFlow::CacheFill => {
                let l = self.loading.as_mut().expect("storage model");
                l.dataset = Dataset::Warm;
                let waiting = std::mem::take(&mut l.waiting);
                for (i, epoch) in waiting {
                    let inst = &self.insts[i];
                    if inst.epoch() == epoch && inst.lifecycle() == Lifecycle::Starting {
                        self.start_fetch(i);
                    }
                }
            }
            LoadFlow::Replica(i) => {
                let node = self.insts[i].node() as usize;
                let load_port = self.insts[i].load_port();
                let l = self.loading.as_mut().expect("storage model");
                let r = &mut l.replicas[i];
                match r.stage {
                    Stage::Fetch => {
                        r.stage = Stage::TensorLoad;
                        r.tensor_start = now;
                        let (src, bytes) = (r.host, r.bytes);
                        if l.model.mount == Mount::LocalNvme {
                            l.nvme_warm[node] = true;
                        }
                        self.storage
                            .start(now, LoadFlow::Replica(i), src, load_port, bytes, now);
                    }
                    Stage::TensorLoad => {
                        r.stage = Stage::Idle;
                        r.tensor_end = now;
                        let epoch = self.insts[i].epoch();
                        let at = now + self.sc.cold_start.warmup;
                        self.queue.push(at, Event::InstanceReady(i, epoch));
                    }
                    Stage::Idle | Stage::WaitingForCache => {
                        debug_assert!(false, "a flow of a replica that is not loading")
                    }
                }
            }
        }
    }

    /// A start was cancelled: forget its place in the cache queue.
    pub(super) fn cancel_load(&mut self, i: InstanceId) {
        if let Some(l) = self.loading.as_mut() {
            l.replicas[i].stage = Stage::Idle;
            l.waiting.retain(|&(w, _)| w != i);
        }
    }

    /// Replica `i` is ready: record its start's phases.
    pub(super) fn record_cold_start(&mut self, i: InstanceId) {
        let now = self.now;
        let inst = &self.insts[i];
        let (instance, role, node) = (i.0, inst.role().name(), inst.node());
        let sc = self.sc;
        let Some(l) = self.loading.as_mut() else {
            return;
        };
        let r = &l.replicas[i];
        let secs = |a: SimTime, b: SimTime| b.since(a).as_secs_f64();
        l.records.push(ColdStartRecord {
            instance,
            role,
            node,
            requested_s: r.requested.as_secs_f64(),
            scheduling_s: sc.cold_start.scheduling.as_secs_f64(),
            image_pull_s: r.image_pull.as_secs_f64(),
            cache_warmup_s: secs(r.load_start, r.fetch_start),
            fetch_s: secs(r.fetch_start, r.tensor_start),
            tensor_load_s: secs(r.tensor_start, r.tensor_end),
            warmup_s: secs(r.tensor_end, now),
            ready_s: now.as_secs_f64(),
        });
    }
}
