//! The simulation: the event loop and the handlers that move requests through routers,
//! instances and KV transfers. Each serving protocol (aggregated, SGLang PD, vLLM PD,
//! Dynamo) is one module under `flow/`; the handlers here call its hooks.
//!
//! Invariants:
//! - The loop is the only writer of `now`; handlers schedule with `at >= now`.
//! - Every arrived request ends exactly once: completed, rejected, timed out (its client
//!   aborted it, `[workload] timeout-s`), lost (its instance failed, `[failures]`) or
//!   unfinished (at the stop time), and is reported to the sink then; its arena slot is
//!   then recycled (see `abort` for the one delay).
//! - Outstanding counters: a request counts on its prefill instance until its KV has left
//!   it and on its decode instance until it finishes (once when they are the same).
//! - Same inputs and seed give the same event sequence (its hash is reported).

mod abort;
mod admission;
mod completion;
mod failure;
mod flow;
mod loading;
mod routing;
mod scaling;
mod steps;
mod transfer;

use crate::event::{Event, EventQueue, FailureSource};
use crate::id::{IdVec, InstanceId, PortId, RequestId};
use crate::instance::{Instance, Lifecycle, Placement, Ports, Role};
use crate::kv_transfer::Network;
use crate::limits::REQUEST_BYTES;
use crate::metrics::{Collector, Metrics, Outcome, RequestRecord, TimeseriesRow};
use crate::policy::autoscale;
use crate::policy::pd_decider::PdDecider;
use crate::policy::router::{self, RouteRequest};
use crate::prefix_cache::chain_keys;
use crate::request::{Phase, Request, Requests};
use crate::rng::{SimRng, Stream, Streams};
use crate::scenario::{RoleConfig, Scenario, Topology};
use crate::time::{SimDuration, SimTime};
use crate::workload::{ArrivalMode, RequestSpec, WorkloadError, WorkloadGen};
use failure::Failures;
pub use failure::{FailureReport, RoleAvailability};
use flow::Flow;
use loading::{LoadFlow, Loading};
use routing::{Instances, Routing};
use scaling::RoleScaler;
use serde::Serialize;
use std::collections::VecDeque;
use xpyd_models::StepMemo;

/// Which of a scenario's systems to simulate.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum System {
    /// The deployment the scenario describes.
    Main,
    /// The aggregated baseline on the same GPUs.
    Baseline,
}

/// A run could not start. Fatal.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The workload's files could not be loaded (the error names the scenario file, then
    /// the field or data file).
    #[error("{}: {source}", file.display())]
    Workload {
        /// The scenario file.
        file: std::path::PathBuf,
        /// What is wrong.
        #[source]
        source: WorkloadError,
    },
    /// The scenario has no baseline to simulate.
    #[error(
        "the scenario has no aggregated baseline (it is aggregated, or [baseline] enabled = false)"
    )]
    NoBaseline,
    /// The requests held at some point would need more memory than the scenario's
    /// budget (`simulation.memory-budget-gib`): the run stopped there.
    #[error(
        "{}: at {at_s:.3} s of simulated time the {what} held {held} requests ({live} in flight), about {}, over the memory budget of {budget_gib} GiB (simulation.memory-budget-gib, in [{}, {}] GiB): {hint}",
        file.display(),
        gib_or_mib(*need_bytes),
        crate::limits::MEMORY_BUDGET_RANGE_GIB.0,
        crate::limits::MEMORY_BUDGET_RANGE_GIB.1
    )]
    MemoryBudget {
        /// The scenario file.
        file: std::path::PathBuf,
        /// Which simulation: `run` or `aggregated baseline`.
        what: &'static str,
        /// Simulated time of the stop, s.
        at_s: f64,
        /// Request slots held (in flight, or ended and awaiting reuse).
        held: u64,
        /// Requests in flight.
        live: u64,
        /// Memory they would need, bytes.
        need_bytes: u64,
        /// The budget, GiB.
        budget_gib: f64,
        /// What to change.
        hint: &'static str,
        /// What the run measured until it stopped (every request still held counted as
        /// unfinished, the SLOs as missed).
        partial: Box<RunOutput>,
    },
}

impl SimError {
    /// The partial output of a run its memory budget stopped, as an overloaded result
    /// (the SLOs missed), for searches that probe overload on purpose (sweeps, plans);
    /// any other error stays one.
    pub fn into_overloaded(self) -> Result<RunOutput, SimError> {
        match self {
            SimError::MemoryBudget { partial, .. } => Ok(*partial),
            e => Err(e),
        }
    }
}

/// `bytes` in GiB, or in MiB below 1 GiB, two decimals.
fn gib_or_mib(bytes: u64) -> String {
    let gib = bytes as f64 / crate::limits::GIB;
    if gib >= 1.0 {
        format!("{gib:.2} GiB")
    } else {
        format!("{:.2} MiB", gib * 1024.0)
    }
}

/// Bytes a held request counts against the memory budget: [`REQUEST_BYTES`] and its
/// prefix-hash chain.
fn request_bytes(r: &Request) -> u64 {
    REQUEST_BYTES + 8 * r.prefix_keys.len() as u64
}

/// One instance's totals over the run.
#[derive(Clone, Debug, Serialize)]
pub struct InstanceSummary {
    /// Index.
    pub instance: u16,
    /// Role.
    pub role: &'static str,
    /// TP degree.
    pub tp: u32,
    /// Node of its first GPU.
    pub node: u32,
    /// KV capacity, tokens.
    pub kv_capacity_tokens: u64,
    /// Steps executed.
    pub steps: u64,
    /// Fraction of the makespan spent executing steps.
    pub busy_fraction: f64,
    /// Preemptions.
    pub preemptions: u64,
    /// KV blocks still held or reserved by requests when the run ended (0 when every
    /// request ended; unused cached blocks do not count).
    pub kv_blocks_in_use_at_end: u64,
    /// Prompt tokens looked up in its prefix cache at prefill admission.
    pub prefix_lookup_tokens: u64,
    /// Of those, tokens found cached (prefill skipped).
    pub prefix_hit_tokens: u64,
    /// `prefix_hit_tokens / prefix_lookup_tokens` (0 without lookups).
    pub prefix_hit_rate: f64,
}

/// What a run produced (besides the records sent to the sink).
#[derive(Clone, Debug, Default)]
pub struct RunOutput {
    /// Summary metrics.
    pub metrics: Metrics,
    /// Per-instance time series (empty from [`run_streamed`], which streams it, and from
    /// [`run_verdict`], which drops it).
    pub timeseries: Vec<TimeseriesRow>,
    /// Per-instance totals.
    pub instances: Vec<InstanceSummary>,
    /// GPUs used.
    pub gpus: u32,
    /// Events processed.
    pub events: u64,
    /// Whether `max-num-seqs` held a request back on some instance (see
    /// `Instance::seq_limit_hit`): when it did not, the run is the one any larger limit
    /// gives.
    pub seq_limit_hit: bool,
    /// Hash of the processed event sequence: time, sequence number and kind of every event
    /// (determinism checks).
    pub trace_hash: u64,
    /// Simulated time at the end, s.
    pub end_s: f64,
    /// KV bytes moved between instances.
    pub kv_bytes_moved: f64,
    /// Prompt tokens not transferred because the decode instance had them cached.
    pub transfer_skipped_tokens: u64,
    /// GPU-seconds held from the start to the last completion (replicas x TP x time
    /// running, so autoscaling shows).
    pub gpu_seconds: f64,
    /// `gpu_seconds` per role, in the order of the system's roles (prefill, decode; or
    /// the one aggregated role): roles on different GPU types are priced apart.
    pub gpu_seconds_by_role: Vec<f64>,
    /// Of `gpu_seconds_by_role`, those of spot instances (`[spot]` only; empty without).
    pub spot_gpu_seconds_by_role: Vec<f64>,
    /// Every autoscaling transition, in time order.
    pub scale_events: Vec<ScaleEvent>,
    /// The phases of every replica start that completed, in the order the replicas became
    /// ready (storage model only: empty without `cold-start.mount` or `preset`).
    pub cold_starts: Vec<ColdStartRecord>,
    /// What failures did (`None` without `[failures]`).
    pub failures: Option<FailureReport>,
}

/// A replica changing state under autoscaling.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScaleEvent {
    /// When, s.
    pub time_s: f64,
    /// The instance.
    pub instance: u16,
    /// Its role.
    pub role: &'static str,
    /// The state it entered: `starting`, `ready`, `draining` or `stopped`; with
    /// `[failures]` or `[spot]` also `failed` or `preempted` (a spot reclaim).
    pub state: &'static str,
}

/// One replica's cold start under the storage model, phase by phase (seconds).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ColdStartRecord {
    /// The instance.
    pub instance: u16,
    /// Its role.
    pub role: &'static str,
    /// Its node.
    pub node: u32,
    /// When the autoscaler started it, s.
    pub requested_s: f64,
    /// Scheduling and pod creation, s.
    pub scheduling_s: f64,
    /// Image pull (0 when the node had the layers), s.
    pub image_pull_s: f64,
    /// Waiting for the distributed cache to warm up, s.
    pub cache_warmup_s: f64,
    /// Fetch into host memory through the mount, s.
    pub fetch_s: f64,
    /// Tensor load host -> GPU, s.
    pub tensor_load_s: f64,
    /// Engine warm-up after the weights (`warmup-s`), s.
    pub warmup_s: f64,
    /// When it became ready, s.
    pub ready_s: f64,
}

impl ColdStartRecord {
    /// The weight load: cache warm-up + fetch + tensor load, s.
    pub fn load_s(&self) -> f64 {
        self.cache_warmup_s + self.fetch_s + self.tensor_load_s
    }

    /// From the start to ready, s.
    pub fn total_s(&self) -> f64 {
        self.ready_s - self.requested_s
    }
}

/// Whether the scenario's decode instances compute prompts by design (its serving flow
/// prefills some prompts on the decode side, as Dynamo's workers do).
pub fn decode_computes_prompts(sc: &Scenario) -> bool {
    Flow::of(sc, System::Main).0.decode_computes_prompts()
}

/// Simulate one system of a scenario; every ended request is passed to `sink` as it ends.
/// The per-instance time series is collected into [`RunOutput::timeseries`].
pub fn run(
    sc: &Scenario,
    system: System,
    sink: &mut dyn FnMut(&RequestRecord),
) -> Result<RunOutput, SimError> {
    let mut series = Vec::new();
    let mut out = run_streamed(sc, system, sink, &mut |row| series.push(row.clone()))?;
    out.timeseries = series;
    Ok(out)
}

/// [`run`] that also streams the time series: each window's rows go to `windows` as the
/// window closes and [`RunOutput::timeseries`] stays empty, so memory is bounded by what
/// is in flight, not by the length of the run.
pub fn run_streamed(
    sc: &Scenario,
    system: System,
    sink: &mut dyn FnMut(&RequestRecord),
    windows: &mut dyn FnMut(&TimeseriesRow),
) -> Result<RunOutput, SimError> {
    run_with(sc, system, sink, windows, true)
}

/// [`run`] for a caller that reads neither the time series nor the inter-token gaps
/// (the planner's probes and confirming runs): `metrics.itl_ms` stays empty and
/// [`RunOutput::timeseries`] too, everything else is [`run`]'s, bit for bit. Keeping
/// the gaps costs, at the end of a run, a sort of every decode step's gap (up to
/// [`crate::metrics::EXACT_SAMPLES`] of them, a histogram beyond): about a quarter of
/// a planner probe (docs/performance.md, round 6).
pub fn run_verdict(
    sc: &Scenario,
    system: System,
    sink: &mut dyn FnMut(&RequestRecord),
) -> Result<RunOutput, SimError> {
    run_with(sc, system, sink, &mut |_| {}, false)
}

fn run_with(
    sc: &Scenario,
    system: System,
    sink: &mut dyn FnMut(&RequestRecord),
    windows: &mut dyn FnMut(&TimeseriesRow),
    itl: bool,
) -> Result<RunOutput, SimError> {
    let mut sim = Simulation::new(sc, system)?;
    if !itl {
        sim.collector.skip_itl();
    }
    sim.run(sink, windows);
    if !sim.over_budget {
        return Ok(sim.into_output());
    }
    let mut e = sim.budget_error(system);
    let mut out = sim.into_output();
    out.metrics.slo.met = false;
    if let SimError::MemoryBudget { partial, .. } = &mut e {
        **partial = out;
    }
    Err(e)
}

struct Simulation<'s> {
    sc: &'s Scenario,
    /// The serving protocol (the only place that knows which one runs).
    flow: Flow,
    /// "Prefill here or remotely" for requests routed to a decode instance.
    pd: PdDecider,
    now: SimTime,
    stop: SimTime,
    queue: EventQueue,
    /// Requests in flight; ended requests' slots are recycled through `free_slots`.
    reqs: Requests,
    free_slots: Vec<RequestId>,
    live: u64,
    /// Bytes the request slots count against the budget ([`request_bytes`] of each).
    held_bytes: u64,
    /// `simulation.memory-budget-gib`, bytes.
    budget_bytes: u64,
    /// Set when `held_bytes` first exceeded the budget: the run stops after this event.
    over_budget: bool,
    insts: Instances,
    /// Step-cost memos, one per role ([`Instance::memo`]).
    memos: Vec<StepMemo>,
    /// Instances a request's prefill is routed to (all of them when aggregated).
    prefill_ids: Vec<InstanceId>,
    /// Instances a request's decode is routed to (all of them when aggregated).
    decode_ids: Vec<InstanceId>,
    /// The routers of the prefill (or aggregated) and decode pools, with their view of
    /// the instances.
    routing: Routing,
    net: Network,
    workload: WorkloadGen,
    pending: Option<RequestSpec>,
    gen_done: bool,
    prefill_queue: VecDeque<RequestId>,
    collector: Collector,
    next_serial: u64,
    kv_bytes_per_token: f64,
    /// Sliding-window layers: their window in tokens and their KV bytes per token (all of
    /// them, all KV heads); `None` without.
    kv_window: Option<(u64, f64)>,
    layers: f64,
    max_prefill_tokens: u64,
    max_total_tokens: u64,
    gpus: u32,
    events: u64,
    hash: u64,
    scratch: Vec<RequestId>,
    /// Time-series window.
    window: SimDuration,
    /// The engine layer's front-end time (TTFT and E2E; a closed-loop client's next request).
    frontend: SimDuration,
    /// Whether a `Sample` event is scheduled.
    sampling: bool,
    /// Whether the instances' prefix caches know the workload's hash block size.
    caches_ready: bool,
    /// Prompt tokens whose transfer the decode-side cache saved.
    transfer_skipped_tokens: u64,
    /// Weight-loading network of cold starts (storage -> replicas).
    storage: Network<LoadFlow>,
    /// The storage model's state (`None`: the link-rate bound).
    loading: Option<Loading>,
    /// The shared model store's port.
    storage_port: PortId,
    /// Node-local cache ports (one per node), used with `cold-start.local-cache`.
    cache_ports: Vec<PortId>,
    /// Autoscaled roles.
    scalers: Vec<RoleScaler>,
    /// Requests held because no replica of a role they need is ready.
    unrouted: VecDeque<RequestId>,
    /// Recent arrivals `(time, input, output)` for autoscaler signals.
    signal_arrivals: VecDeque<(SimTime, u32, u32)>,
    /// Recent completions `(time, ttft ms, tpot ms)` for autoscaler signals.
    signal_latency: VecDeque<(SimTime, f64, Option<f64>)>,
    /// Longest signal window of any autoscaler (0 without autoscaling).
    signal_horizon: SimDuration,
    /// Autoscaling transitions so far.
    scale_events: Vec<ScaleEvent>,
    /// How long a client waits before aborting a request (`None`: no timeout events).
    timeout: Option<SimDuration>,
    /// Requests issued first and not measured (serials below this are warm-up).
    warmup: u64,
    /// Weight bytes one replica of each role loads (index: [`Instance::memo`]).
    role_weight_bytes: Vec<f64>,
    /// Failure processes and their effects (`None` without `[failures]`).
    failures: Option<Failures>,
}

/// Start of the event-trace hash (FNV-1a's offset basis).
const TRACE_SEED: u64 = 0xcbf2_9ce4_8422_2325;
/// Odd multiplier of the trace hash (2^64 / golden ratio).
const TRACE_MUL: u64 = 0x9e37_79b9_7f4a_7c15;

/// Fold one word into the event-trace hash: xor, multiply by an odd constant, rotate.
/// Each step is a bijection of the state for a fixed word, so two traces that differ in
/// one word always hash differently; the rotation carries high bits into the low ones.
/// One multiply per word (byte-wise FNV-1a took eight).
fn mix(h: u64, x: u64) -> u64 {
    (h ^ x).wrapping_mul(TRACE_MUL).rotate_left(29)
}

fn event_code(ev: &Event) -> (u64, u64) {
    match *ev {
        Event::Arrival => (1, 0),
        Event::ClientIssue(c) => (2, u64::from(c)),
        Event::TransferStart(r) => (3, u64::from(r.0)),
        Event::Bootstrapped(r) => (4, u64::from(r.0)),
        Event::TryStep(i) => (5, u64::from(i.0)),
        Event::StepDone(i) => (6, u64::from(i.0)),
        Event::TransferTimer { generation } => (7, generation),
        Event::Sample => (8, 0),
        Event::Autoscale(k) => (9, u64::from(k)),
        Event::ColdStartLoad(i, e) => (10, u64::from(i.0) << 32 | u64::from(e)),
        Event::StorageTimer { generation } => (11, generation),
        Event::InstanceReady(i, e) => (12, u64::from(i.0) << 32 | u64::from(e)),
        Event::Timeout(_, serial) => (13, serial),
        Event::Failure(FailureSource::Process(k)) => (14, u64::from(k)),
        Event::Failure(FailureSource::Trace(j)) => (15, u64::from(j)),
        Event::Notice(FailureSource::Process(k)) => (16, u64::from(k)),
        Event::Notice(FailureSource::Trace(j)) => (17, u64::from(j)),
        Event::Failure(FailureSource::Spot(j)) => (18, u64::from(j)),
        Event::Notice(FailureSource::Spot(j)) => (19, u64::from(j)),
    }
}

impl<'s> Simulation<'s> {
    fn new(sc: &'s Scenario, system: System) -> Result<Simulation<'s>, SimError> {
        let roles: Vec<(&RoleConfig, Role)> = match (system, &sc.topology) {
            (System::Main, Topology::Disaggregated { prefill, decode }) => {
                vec![(prefill, Role::Prefill), (decode, Role::Decode)]
            }
            (System::Main, Topology::Aggregated(r)) => vec![(r, Role::Aggregated)],
            (System::Baseline, _) => match &sc.baseline {
                Some(b) => vec![(b, Role::Aggregated)],
                None => return Err(SimError::NoBaseline),
            },
        };
        let (flow, pd) = Flow::of(sc, system);
        let streams = Streams::new(sc.seed);
        let workload = WorkloadGen::new(&sc.workload, &streams)
            .map_err(|source| SimError::Workload {
                file: sc.file.clone(),
                source,
            })?
            .with_horizon(SimTime::ZERO + sc.max_duration);
        let mut net = Network::new();
        let mut insts: IdVec<InstanceId, Instance> = IdVec::new();
        let mut prefill_ids = Vec::new();
        let mut decode_ids = Vec::new();
        // Instances are packed onto nodes in order; a role on GPUs of another type or
        // server (heterogeneous PD) starts a fresh group of nodes: `node_base` is the
        // first node of the current group, `cursor` the next free GPU within it.
        let mut gpn = sc.kv_transfer.gpus_per_node;
        let mut group = (sc.gpu.id.as_str(), gpn);
        let mut node_base = 0u32;
        let mut cursor = 0u32;
        let mut gpus = 0;
        let mut router_kinds = Vec::new();
        let mut storage = Network::new();
        let storage_port = storage.add_port(sc.cold_start.store_bytes_per_s());
        // Host-to-device bound per GPU: PCIe Gen5 x16 (~50 GB/s measured pinned copies;
        // calibrate/README.md), or the storage model's `pcie-gb-s-per-gpu`.
        let pcie = sc
            .cold_start
            .storage
            .as_ref()
            .map_or(50e9, |s| s.pcie_gb_s_per_gpu * 1e9);
        let mut scalers = Vec::new();
        let mut spans = Vec::new();
        let mut tps = Vec::new();
        let mut spot = Vec::new();
        for (memo, (role_cfg, role)) in roles.iter().enumerate() {
            router_kinds.push(role_cfg.router);
            let mut role_ids = Vec::new();
            let (role_gpn, nic_gbit_s, intra_node_gb_s) = sc.links_of(role_cfg);
            let role_group = (sc.gpu_of(role_cfg).id.as_str(), role_gpn);
            // Built once per role: its instances' cost models are equal (a fleet's
            // hundreds of instances each built it, calibration tables included).
            let role_cost = sc.cost_model_for(role_cfg);
            if role_group != group {
                node_base += cursor.div_ceil(gpn);
                cursor = 0;
                gpn = role_gpn;
                group = role_group;
            }
            for k in 0..role_cfg.max_instances() {
                let tp = role_cfg.tp;
                // An instance never straddles nodes: start on a fresh node when the
                // current one cannot hold it (or when it spans several nodes).
                let crosses = if tp <= gpn {
                    cursor % gpn + tp > gpn
                } else {
                    !cursor.is_multiple_of(gpn)
                };
                if crosses {
                    cursor = cursor.div_ceil(gpn) * gpn;
                }
                let node = node_base + cursor / gpn;
                spans.push((node, tp.div_ceil(gpn)));
                tps.push(tp);
                spot.push(role_cfg.is_spot(k));
                cursor += tp;
                if k < role_cfg.replicas {
                    gpus += tp;
                }
                let eff = sc.kv_transfer.efficiency;
                // The role's own NICs and links: a transfer between roles on different
                // GPU types crosses the sender's egress and the receiver's ingress port,
                // so the slower side bounds it.
                let nic = f64::from(tp) * nic_gbit_s * 1e9 / 8.0 * eff;
                let local = f64::from(tp) * intra_node_gb_s * 1e9 * eff;
                let ports = Ports {
                    nic_out: net.add_port(nic),
                    nic_in: net.add_port(nic),
                    local_out: net.add_port(local),
                    local_in: net.add_port(local),
                };
                let placement = Placement {
                    node,
                    multi_node: tp > gpn,
                    ports,
                    // Host-to-device copy bound of a replica's weight load, per GPU.
                    load_port: storage.add_port(f64::from(tp) * pcie),
                };
                let id = insts.next_id();
                let mut inst = Instance::new(
                    id,
                    *role,
                    role_cost.clone(),
                    memo,
                    role_cfg.engine.clone(),
                    tp,
                    role_cfg.memory.kv_capacity_tokens,
                    placement,
                );
                if k >= role_cfg.replicas {
                    inst.set_lifecycle(Lifecycle::Stopped, SimTime::ZERO);
                }
                insts.push(inst);
                role_ids.push(id);
                match role {
                    Role::Prefill => prefill_ids.push(id),
                    Role::Decode => decode_ids.push(id),
                    Role::Aggregated => {
                        prefill_ids.push(id);
                        decode_ids.push(id);
                    }
                }
            }
            if let Some(cfg) = &role_cfg.autoscale {
                scalers.push(RoleScaler {
                    ids: role_ids,
                    policy: autoscale::build(cfg),
                    window: cfg.signal_window(),
                    percentile: cfg.percentile(),
                });
            }
        }
        let nodes = (node_base + cursor.div_ceil(gpn)).max(1);
        let cache_ports: Vec<PortId> = (0..nodes)
            .map(|_| storage.add_port(sc.cold_start.cache_gbit_s * 1e9 / 8.0))
            .collect();
        let loading = sc
            .cold_start
            .storage
            .as_ref()
            .map(|m| Loading::new(m, &mut storage, &insts, nodes));
        let role_weight_bytes = roles
            .iter()
            .map(|(r, _)| r.memory.weight_bytes_per_gpu * f64::from(r.tp))
            .collect();
        let failures = (sc.failures.is_some() || sc.spot.is_some()).then(|| {
            Failures::new(
                sc.failures.as_ref(),
                sc.spot.as_ref(),
                &streams,
                &tps,
                spot,
                spans,
                nodes,
                roles.len(),
            )
        });
        let signal_horizon = scalers
            .iter()
            .map(|s| s.window)
            .max()
            .unwrap_or(SimDuration::ZERO);
        let cap = |ids: &[InstanceId]| {
            ids.iter()
                .map(|&i| insts[i].max_request_tokens())
                .min()
                .unwrap_or(0)
        };
        let max_prefill_tokens = cap(&prefill_ids);
        let max_total_tokens = cap(&decode_ids).min(u64::from(sc.max_model_len));
        let decode_router = *router_kinds.last().expect("at least one role");
        let routers = [
            router::build(router_kinds[0], &sc.routing, prefill_ids.len()),
            router::build(decode_router, &sc.routing, decode_ids.len()),
        ];
        // A pool whose router the flow never asks is empty to the routing updates.
        let [p, d] = flow.routed_pools();
        let pools = [
            if p { prefill_ids.clone() } else { Vec::new() },
            if d { decode_ids.clone() } else { Vec::new() },
        ];
        let mut insts = Instances::new(insts, [&pools[0], &pools[1]]);
        let routing = Routing::new(
            &mut insts,
            routers,
            [
                streams.get(Stream::Router(0)),
                streams.get(Stream::Router(1)),
            ],
            pools,
        );
        Ok(Simulation {
            sc,
            flow,
            pd,
            now: SimTime::ZERO,
            stop: SimTime::ZERO + sc.max_duration,
            queue: EventQueue::new(),
            reqs: IdVec::new(),
            free_slots: Vec::new(),
            live: 0,
            held_bytes: 0,
            // In range by validation: at most 10^6 GiB, far below u64::MAX bytes.
            budget_bytes: (sc.memory_budget_gib * crate::limits::GIB) as u64,
            over_budget: false,
            insts,
            memos: vec![StepMemo::new(); roles.len()],
            prefill_ids,
            decode_ids,
            routing,
            net,
            workload,
            pending: None,
            gen_done: false,
            prefill_queue: VecDeque::new(),
            collector: {
                let c = Collector::new(
                    sc.workload.warmup_requests() > 0,
                    sc.workload.timeout().is_some(),
                );
                if sc.failures.is_some() || sc.spot.is_some() {
                    c.with_failures()
                } else {
                    c
                }
            },
            next_serial: 0,
            kv_bytes_per_token: sc.model.kv_bytes_per_token(sc.kv_cache),
            kv_window: sc.model.sliding_window.map(|w| {
                let per_window = sc.model.kv_window_bytes_per_seq_per_gpu(sc.kv_cache, 1);
                (u64::from(w.tokens), per_window / f64::from(w.tokens.max(1)))
            }),
            layers: f64::from(sc.model.num_layers),
            max_prefill_tokens,
            max_total_tokens,
            gpus,
            events: 0,
            hash: TRACE_SEED,
            scratch: Vec::new(),
            window: sc.sample_window,
            frontend: sc.frontend(),
            sampling: false,
            caches_ready: false,
            transfer_skipped_tokens: 0,
            storage,
            loading,
            storage_port,
            cache_ports,
            scalers,
            unrouted: VecDeque::new(),
            signal_arrivals: VecDeque::new(),
            signal_latency: VecDeque::new(),
            signal_horizon,
            scale_events: Vec::new(),
            timeout: sc.workload.timeout(),
            warmup: sc.workload.warmup_requests(),
            role_weight_bytes,
            failures,
        })
    }

    fn run(
        &mut self,
        sink: &mut dyn FnMut(&RequestRecord),
        windows: &mut dyn FnMut(&TimeseriesRow),
    ) {
        match self.sc.workload.mode() {
            ArrivalMode::Open => self.schedule_next_arrival(),
            ArrivalMode::Closed { clients } => {
                for c in 0..clients {
                    self.queue.push(SimTime::ZERO, Event::ClientIssue(c));
                }
            }
        }
        self.start_autoscalers();
        self.start_failures();

        while let Some((at, seq, ev)) = self.queue.pop() {
            if at > self.stop {
                break;
            }
            // A timeout of a request that already ended is not an event of the model (it
            // is cancelled lazily): it neither moves the clock nor enters the trace.
            if let Event::Timeout(id, serial) = ev
                && !self.times_out(id, serial)
            {
                continue;
            }
            debug_assert!(at >= self.now, "event in the past");
            self.now = at;
            self.events += 1;
            let (code, payload) = event_code(&ev);
            self.hash = mix(
                mix(mix(self.hash, at.as_nanos()), seq),
                code << 48 ^ payload,
            );
            match ev {
                Event::Arrival => self.on_arrival(sink),
                Event::ClientIssue(c) => self.on_client_issue(c, sink),
                Event::Bootstrapped(r) if self.reqs[r].aborted => self.reap(r),
                Event::Bootstrapped(r) => flow::bootstrapped(self, r),
                Event::TryStep(i) => self.on_try_step(i),
                Event::StepDone(i) => self.on_step_done(i, sink),
                Event::TransferStart(r) if self.reqs[r].aborted => self.reap(r),
                Event::TransferStart(r) => self.on_transfer_start(r),
                Event::TransferTimer { generation } => self.on_transfer_timer(generation, sink),
                Event::Sample => self.on_sample(windows),
                Event::Autoscale(k) => self.on_autoscale(usize::from(k)),
                Event::ColdStartLoad(i, e) => self.on_cold_start_load(i, e),
                Event::StorageTimer { generation } => self.on_storage_timer(generation),
                Event::InstanceReady(i, e) => self.on_instance_ready(i, e),
                Event::Timeout(id, _) => self.on_timeout(id, sink),
                Event::Failure(source) => self.on_failure(source, sink),
                Event::Notice(source) => self.on_notice(source),
            }
            if self.over_budget {
                // Stop here; what is held is reported unfinished below.
                break;
            }
        }
        // Requests the workload would still issue never arrived before the stop.
        let not_arrived = self.workload.remaining() + u64::from(self.pending.is_some());
        self.collector.not_arrived(not_arrived);
        // Whatever is still in flight at the stop is unfinished, reported in slot order.
        let mut free: IdVec<RequestId, bool> = self.reqs.iter().map(|_| false).collect();
        for &s in &self.free_slots {
            free[s] = true;
        }
        for slot in self.reqs.ids() {
            // Aborted slots ended already (timed out), waiting for a stale event.
            if free[slot] || self.reqs[slot].aborted {
                continue;
            }
            let rec = self.record(slot, Outcome::Unfinished);
            self.collector.ended(&rec, self.now.as_secs_f64());
            sink(&rec);
        }
    }

    /// Count the new request in `slot` against the memory budget (after subtracting
    /// `old_bytes`, what the slot held before); the run stops after this event when the
    /// held requests exceed it.
    fn hold(&mut self, slot: RequestId, old_bytes: u64) {
        self.held_bytes = self.held_bytes - old_bytes + request_bytes(&self.reqs[slot]);
        if self.held_bytes > self.budget_bytes {
            self.over_budget = true;
        }
    }

    /// The error of a run stopped by its memory budget (its `partial` output is filled
    /// in by the caller).
    fn budget_error(&self, system: System) -> SimError {
        let blocks: u64 = self.reqs.iter().map(|r| r.prefix_keys.len() as u64).sum();
        let hint = if system == System::Baseline {
            "the aggregated baseline cannot serve this load: run with --no-baseline, set [baseline] enabled = false, or raise the budget"
        } else if blocks * 8 > self.held_bytes / 2 {
            "the requests' prefix-hash chains dominate: raise workload.prefix.block-tokens, shorten the prompts, or use fewer clients"
        } else {
            "arrivals outpace what the deployment serves: lower the rate or the clients, add replicas, shorten simulation.max-duration-s, or raise the budget"
        };
        SimError::MemoryBudget {
            file: self.sc.file.clone(),
            what: match system {
                System::Main => "run",
                System::Baseline => "aggregated baseline",
            },
            at_s: self.now.as_secs_f64(),
            held: self.reqs.len() as u64,
            live: self.live,
            need_bytes: self.held_bytes,
            budget_gib: self.sc.memory_budget_gib,
            hint,
            partial: Box::default(),
        }
    }

    fn into_output(self) -> RunOutput {
        let failures = self.failure_report(self.now);
        let metrics = self.collector.finish(self.gpus, &self.sc.slo);
        let until = SimTime::ZERO + SimDuration::from_secs_f64(metrics.makespan_s);
        // With failures or spot capacity, replicas stop and start after the last
        // completion too (a failure, a notice, a reclaim): their GPU time is clipped at
        // the makespan. Without, the account is the one runs have always reported.
        let clip = self.failures.is_some();
        let active_ns = |x: &Instance| {
            if clip {
                x.active_ns_within(until)
            } else {
                x.active_ns_until(until)
            }
        };
        let gpu_seconds: f64 = self
            .insts
            .iter()
            .map(|x| active_ns(x) as f64 * 1e-9 * f64::from(x.tp()))
            .sum();
        let roles = self.insts.iter().map(|x| x.memo() + 1).max().unwrap_or(0);
        let mut gpu_seconds_by_role = vec![0.0; roles];
        let mut spot_gpu_seconds_by_role = vec![0.0; roles];
        let spot = self.failures.as_ref().map(|f| &f.spot);
        for x in self.insts.iter() {
            let s = active_ns(x) as f64 * 1e-9 * f64::from(x.tp());
            gpu_seconds_by_role[x.memo()] += s;
            if spot.is_some_and(|v| v[usize::from(x.id().0)]) {
                spot_gpu_seconds_by_role[x.memo()] += s;
            }
        }
        if self.sc.spot.is_none() {
            spot_gpu_seconds_by_role.clear();
        }
        let makespan_ns = (metrics.makespan_s * 1e9).max(1.0);
        let instances = self
            .insts
            .iter()
            .map(|x| InstanceSummary {
                instance: x.id().0,
                role: x.role().name(),
                tp: x.tp(),
                node: x.node(),
                kv_capacity_tokens: x.kv_capacity_tokens(),
                steps: x.steps(),
                busy_fraction: (x.busy_ns() as f64 / makespan_ns).min(1.0),
                preemptions: x.preemptions(),
                kv_blocks_in_use_at_end: x.kv_blocks_in_use(),
                prefix_lookup_tokens: x.cache().lookup_tokens,
                prefix_hit_tokens: x.cache().hit_tokens,
                prefix_hit_rate: x.cache().hit_rate(),
            })
            .collect();
        RunOutput {
            failures,
            metrics,
            timeseries: Vec::new(),
            instances,
            gpus: self.gpus,
            events: self.events,
            seq_limit_hit: self.insts.iter().any(|x| x.seq_limit_hit()),
            trace_hash: self.hash,
            end_s: self.now.as_secs_f64(),
            kv_bytes_moved: self.net.bytes_moved(),
            transfer_skipped_tokens: self.transfer_skipped_tokens,
            gpu_seconds,
            gpu_seconds_by_role,
            spot_gpu_seconds_by_role,
            scale_events: self.scale_events,
            cold_starts: self.loading.map(Loading::into_records).unwrap_or_default(),
        }
    }
}
