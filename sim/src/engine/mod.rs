//! The simulation: the event loop and the handlers that move requests through routers,
//! instances and KV transfers, for each serving flow (aggregated, SGLang PD, vLLM PD,
//! Dynamo).
//!
//! Invariants:
//! - The loop is the only writer of `now`; handlers schedule with `at >= now`.
//! - Every arrived request ends exactly once: completed, rejected or unfinished (at the
//!   stop time), and is reported to the sink then; its arena slot is then recycled.
//! - Outstanding counters: a request counts on its prefill instance until its KV has left
//!   it and on its decode instance until it finishes (once when they are the same).
//! - Same inputs and seed give the same event sequence (its FNV hash is reported).

mod scaling;

use crate::event::{Event, EventQueue, InstanceId, RequestId};
use crate::instance::Lifecycle;
use crate::instance::{Instance, Ports, Role};
use crate::kv_transfer::Network;
use crate::kv_transfer::PortId;
use crate::metrics::{Collector, Metrics, Outcome, RequestRecord, TimeseriesRow};
use crate::policy::autoscale;
use crate::policy::router::{self, InstanceLoad, RouteRequest, Router};
use crate::prefix_cache::chain_keys;
use crate::request::{Phase, Request, blocks_for};
use crate::rng::{SimRng, Stream, Streams};
use crate::scenario::{Backend, RoleConfig, Scenario, Topology};
use crate::time::{SimDuration, SimTime};
use crate::workload::{ArrivalMode, RequestSpec, WorkloadError, WorkloadGen};
use scaling::RoleScaler;
use serde::Serialize;
use std::collections::VecDeque;
use xpyd_models::CostModel;

/// Which of a scenario's systems to simulate.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum System {
    /// The deployment the scenario describes.
    Main,
    /// The aggregated baseline on the same GPUs.
    Baseline,
}

/// How requests move through the system.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Flow {
    Aggregated,
    Sglang,
    Vllm,
    Dynamo,
}

/// A run could not start. Fatal.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The workload's files could not be loaded.
    #[error(transparent)]
    Workload(#[from] WorkloadError),
    /// The scenario has no baseline to simulate.
    #[error(
        "the scenario has no aggregated baseline (it is aggregated, or [baseline] enabled = false)"
    )]
    NoBaseline,
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
#[derive(Clone, Debug)]
pub struct RunOutput {
    /// Summary metrics.
    pub metrics: Metrics,
    /// Per-instance time series.
    pub timeseries: Vec<TimeseriesRow>,
    /// Per-instance totals.
    pub instances: Vec<InstanceSummary>,
    /// GPUs used.
    pub gpus: u32,
    /// Events processed.
    pub events: u64,
    /// FNV-1a hash of the processed event sequence (determinism checks).
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
    /// Every autoscaling transition, in time order.
    pub scale_events: Vec<ScaleEvent>,
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
    /// The state it entered: `starting`, `ready`, `draining` or `stopped`.
    pub state: &'static str,
}

/// Simulate one system of a scenario; every ended request is passed to `sink` as it ends.
pub fn run(
    sc: &Scenario,
    system: System,
    sink: &mut dyn FnMut(&RequestRecord),
) -> Result<RunOutput, SimError> {
    let mut sim = Simulation::new(sc, system)?;
    sim.run(sink);
    Ok(sim.into_output())
}

struct Simulation<'s> {
    sc: &'s Scenario,
    flow: Flow,
    now: SimTime,
    stop: SimTime,
    queue: EventQueue,
    reqs: Vec<Request>,
    free_slots: Vec<u32>,
    live: u64,
    insts: Vec<Instance>,
    /// Instances a request's prefill is routed to (all of them when aggregated).
    prefill_ids: Vec<InstanceId>,
    /// Instances a request's decode is routed to (all of them when aggregated).
    decode_ids: Vec<InstanceId>,
    routers: [Box<dyn Router + Send>; 2],
    router_rngs: [SimRng; 2],
    net: Network,
    workload: WorkloadGen,
    pending: Option<RequestSpec>,
    gen_done: bool,
    prefill_queue: VecDeque<RequestId>,
    collector: Collector,
    series: Vec<TimeseriesRow>,
    next_serial: u64,
    kv_bytes_per_token: f64,
    layers: f64,
    max_prefill_tokens: u64,
    max_total_tokens: u64,
    gpus: u32,
    events: u64,
    hash: u64,
    scratch: Vec<RequestId>,
    /// Time-series window.
    window: SimDuration,
    /// Whether a `Sample` event is scheduled.
    sampling: bool,
    /// Whether the instances' prefix caches know the workload's hash block size.
    caches_ready: bool,
    /// Prompt tokens whose transfer the decode-side cache saved.
    transfer_skipped_tokens: u64,
    /// Weight-loading network of cold starts (storage -> replicas).
    storage: Network<InstanceId>,
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
}

/// Decode tokens SGLang's decode server keeps free per request holding KV before it
/// pre-allocates for another (`SGLANG_NUM_RESERVED_DECODE_TOKENS`).
const SGLANG_RESERVED_DECODE_TOKENS: u64 = 512;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv(mut h: u64, x: u64) -> u64 {
    for b in x.to_le_bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
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
    }
}

impl<'s> Simulation<'s> {
    fn new(sc: &'s Scenario, system: System) -> Result<Simulation<'s>, SimError> {
        let (flow, roles): (Flow, Vec<(&RoleConfig, Role)>) = match (system, &sc.topology) {
            (System::Main, Topology::Disaggregated { prefill, decode }) => {
                let flow = match sc.backend {
                    Backend::Sglang => Flow::Sglang,
                    Backend::Vllm => Flow::Vllm,
                    Backend::Dynamo => Flow::Dynamo,
                };
                (flow, vec![(prefill, Role::Prefill), (decode, Role::Decode)])
            }
            (System::Main, Topology::Aggregated(r)) => (Flow::Aggregated, vec![(r, Role::Mixed)]),
            (System::Baseline, _) => match &sc.baseline {
                Some(b) => (Flow::Aggregated, vec![(b, Role::Mixed)]),
                None => return Err(SimError::NoBaseline),
            },
        };
        let streams = Streams::new(sc.seed);
        let workload = WorkloadGen::new(&sc.workload, &streams)?;
        let mut net = Network::new();
        let mut insts = Vec::new();
        let mut prefill_ids = Vec::new();
        let mut decode_ids = Vec::new();
        let gpn = sc.kv_transfer.gpus_per_node;
        let mut cursor = 0u32; // next free GPU, instances packed onto nodes in order
        let mut gpus = 0;
        let mut router_kinds = Vec::new();
        let mut storage = Network::new();
        let storage_port = storage.add_port(sc.cold_start.storage_gbit_s * 1e9 / 8.0);
        let mut scalers = Vec::new();
        for (role_cfg, role) in &roles {
            router_kinds.push(role_cfg.router);
            let mut role_ids = Vec::new();
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
                let node = cursor / gpn;
                cursor += tp;
                if k < role_cfg.replicas {
                    gpus += tp;
                }
                let eff = sc.kv_transfer.efficiency;
                let nic = f64::from(tp) * sc.kv_transfer.nic_gbit_s * 1e9 / 8.0 * eff;
                let local = f64::from(tp) * sc.kv_transfer.intra_node_gb_s * 1e9 * eff;
                let ports = Ports {
                    nic_out: net.add_port(nic),
                    nic_in: net.add_port(nic),
                    local_out: net.add_port(local),
                    local_in: net.add_port(local),
                };
                let id = InstanceId(insts.len() as u16);
                let cost = CostModel::new(
                    sc.model.clone(),
                    sc.gpu.clone(),
                    tp,
                    sc.weights,
                    sc.kv_cache,
                    sc.efficiency.clone(),
                );
                insts.push(Instance::new(
                    id,
                    *role,
                    cost,
                    role_cfg.engine.clone(),
                    tp,
                    node,
                    tp > gpn,
                    role_cfg.memory.kv_capacity_tokens,
                    ports,
                ));
                let inst = insts.last_mut().expect("just pushed");
                // Host-to-device copy bound of a replica's weight load: PCIe Gen5 x16 per
                // GPU (~50 GB/s measured pinned copies; calibrate/README.md).
                inst.load_port = storage.add_port(f64::from(tp) * 50e9);
                if k >= role_cfg.replicas {
                    inst.set_lifecycle(Lifecycle::Stopped, SimTime::ZERO);
                }
                role_ids.push(id);
                match role {
                    Role::Prefill => prefill_ids.push(id),
                    Role::Decode => decode_ids.push(id),
                    Role::Mixed => {
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
                    weight_bytes: role_cfg.memory.weight_bytes_per_gpu * f64::from(role_cfg.tp),
                });
            }
        }
        let nodes = cursor.div_ceil(gpn).max(1);
        let cache_ports: Vec<PortId> = (0..nodes)
            .map(|_| storage.add_port(sc.cold_start.cache_gbit_s * 1e9 / 8.0))
            .collect();
        let signal_horizon = scalers
            .iter()
            .map(|s| s.window)
            .max()
            .unwrap_or(SimDuration::ZERO);
        let cap = |ids: &[InstanceId]| {
            ids.iter()
                .map(|i| {
                    let x = &insts[i.0 as usize];
                    x.total_blocks * u64::from(x.block_tokens())
                })
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
        Ok(Simulation {
            sc,
            flow,
            now: SimTime::ZERO,
            stop: SimTime::ZERO + SimDuration::from_secs_f64(sc.max_duration_s),
            queue: EventQueue::new(),
            reqs: Vec::new(),
            free_slots: Vec::new(),
            live: 0,
            insts,
            prefill_ids,
            decode_ids,
            routers,
            router_rngs: [
                streams.get(Stream::Router(0)),
                streams.get(Stream::Router(1)),
            ],
            net,
            workload,
            pending: None,
            gen_done: false,
            prefill_queue: VecDeque::new(),
            collector: Collector::default(),
            series: Vec::new(),
            next_serial: 0,
            kv_bytes_per_token: sc.model.kv_bytes_per_token(sc.kv_cache),
            layers: f64::from(sc.model.num_layers),
            max_prefill_tokens,
            max_total_tokens,
            gpus,
            events: 0,
            hash: FNV_OFFSET,
            scratch: Vec::new(),
            window: SimDuration::from_secs_f64(sc.sample_window_s),
            sampling: false,
            caches_ready: false,
            transfer_skipped_tokens: 0,
            storage,
            storage_port,
            cache_ports,
            scalers,
            unrouted: VecDeque::new(),
            signal_arrivals: VecDeque::new(),
            signal_latency: VecDeque::new(),
            signal_horizon,
            scale_events: Vec::new(),
        })
    }

    fn run(&mut self, sink: &mut dyn FnMut(&RequestRecord)) {
        match self.sc.workload.mode() {
            ArrivalMode::Open => self.schedule_next_arrival(),
            ArrivalMode::Closed { clients } => {
                for c in 0..clients {
                    self.queue.push(SimTime::ZERO, Event::ClientIssue(c));
                }
            }
        }
        self.start_autoscalers();

        while let Some((at, seq, ev)) = self.queue.pop() {
            if at > self.stop {
                break;
            }
            debug_assert!(at >= self.now, "event in the past");
            self.now = at;
            self.events += 1;
            let (code, payload) = event_code(&ev);
            self.hash = fnv(
                fnv(fnv(self.hash, at.as_nanos()), seq),
                code << 48 ^ payload,
            );
            match ev {
                Event::Arrival => self.on_arrival(sink),
                Event::ClientIssue(c) => self.on_client_issue(c, sink),
                Event::Bootstrapped(r) => self.on_bootstrapped(r),
                Event::TryStep(i) => {
                    self.insts[i.0 as usize].wake_pending = false;
                    self.try_start_step(i);
                    self.maybe_stop(i);
                }
                Event::StepDone(i) => self.on_step_done(i, sink),
                Event::TransferStart(r) => self.on_transfer_start(r),
                Event::TransferTimer { generation } => self.on_transfer_timer(generation, sink),
                Event::Sample => self.on_sample(),
                Event::Autoscale(k) => self.on_autoscale(usize::from(k)),
                Event::ColdStartLoad(i, e) => self.on_cold_start_load(i, e),
                Event::StorageTimer { generation } => self.on_storage_timer(generation),
                Event::InstanceReady(i, e) => self.on_instance_ready(i, e),
            }
        }
        // Whatever is still in flight at the stop is unfinished, reported in slot order.
        let mut free = vec![false; self.reqs.len()];
        for &s in &self.free_slots {
            free[s as usize] = true;
        }
        for (slot, &is_free) in free.iter().enumerate() {
            if is_free {
                continue;
            }
            let rec = self.record(RequestId(slot as u32), Outcome::Unfinished);
            self.collector.ended(&rec, self.now.as_secs_f64());
            sink(&rec);
        }
    }

    fn into_output(self) -> RunOutput {
        let metrics = self.collector.finish(self.gpus, &self.sc.slo);
        let until = SimTime::ZERO + SimDuration::from_secs_f64(metrics.makespan_s);
        let gpu_seconds: f64 = self
            .insts
            .iter()
            .map(|x| x.active_ns_until(until) as f64 * 1e-9 * f64::from(x.tp))
            .sum();
        let makespan_ns = (metrics.makespan_s * 1e9).max(1.0);
        let instances = self
            .insts
            .iter()
            .map(|x| InstanceSummary {
                instance: x.id.0,
                role: x.role.name(),
                tp: x.tp,
                node: x.node,
                kv_capacity_tokens: x.total_blocks * u64::from(x.block_tokens()),
                steps: x.steps,
                busy_fraction: (x.busy_ns as f64 / makespan_ns).min(1.0),
                preemptions: x.preemptions,
                kv_blocks_in_use_at_end: x.used_blocks - x.cache.evictable_blocks(),
                prefix_lookup_tokens: x.cache.lookup_tokens,
                prefix_hit_tokens: x.cache.hit_tokens,
                prefix_hit_rate: x.cache.hit_rate(),
            })
            .collect();
        RunOutput {
            metrics,
            timeseries: self.series,
            instances,
            gpus: self.gpus,
            events: self.events,
            trace_hash: self.hash,
            end_s: self.now.as_secs_f64(),
            kv_bytes_moved: self.net.bytes_moved(),
            transfer_skipped_tokens: self.transfer_skipped_tokens,
            gpu_seconds,
            scale_events: self.scale_events,
        }
    }

    // ----- arrivals ---------------------------------------------------------------------

    fn schedule_next_arrival(&mut self) {
        match self.workload.next_open() {
            Some(spec) => {
                let at = spec.arrival.max(self.now);
                self.pending = Some(spec);
                self.queue.push(at, Event::Arrival);
            }
            None => self.gen_done = true,
        }
    }

    fn on_arrival(&mut self, sink: &mut dyn FnMut(&RequestRecord)) {
        let spec = self
            .pending
            .take()
            .expect("an Arrival event has a pending request");
        self.admit(spec, None, sink);
        self.schedule_next_arrival();
    }

    fn on_client_issue(&mut self, client: u32, sink: &mut dyn FnMut(&RequestRecord)) {
        match self.workload.next_closed(self.now) {
            Some(spec) => self.admit(spec, Some(client), sink),
            None => self.gen_done = true,
        }
    }

    fn client_next(&mut self, client: Option<u32>) {
        if let Some(c) = client {
            let think = self.workload.think_time();
            self.queue.push(self.now + think, Event::ClientIssue(c));
        }
    }

    fn admit(
        &mut self,
        spec: RequestSpec,
        client: Option<u32>,
        sink: &mut dyn FnMut(&RequestRecord),
    ) {
        self.collector.arrived();
        self.ensure_sampling();
        let serial = self.next_serial;
        self.next_serial += 1;
        let mut req = Request::new(
            serial,
            self.now,
            spec.input_tokens,
            spec.output_tokens,
            client,
        );
        req.session = spec.session;
        if spec.hash_block_tokens > 0 && !spec.block_hashes.is_empty() {
            let full = (spec.input_tokens / spec.hash_block_tokens) as usize;
            req.prefix_keys = chain_keys(&spec.block_hashes, full);
            req.hash_block_tokens = spec.hash_block_tokens;
            if !self.caches_ready {
                self.caches_ready = true;
                for inst in &mut self.insts {
                    inst.ensure_cache(spec.hash_block_tokens);
                }
            }
        }
        let id = match self.free_slots.pop() {
            Some(s) => {
                self.reqs[s as usize] = req;
                RequestId(s)
            }
            None => {
                self.reqs.push(req);
                RequestId((self.reqs.len() - 1) as u32)
            }
        };
        self.live += 1;
        let total = u64::from(spec.input_tokens) + u64::from(spec.output_tokens);
        if u64::from(spec.input_tokens) > self.max_prefill_tokens || total > self.max_total_tokens {
            self.end(id, Outcome::Rejected, sink);
            return;
        }
        self.signal_arrivals
            .push_back((self.now, spec.input_tokens, spec.output_tokens));
        if !self.dispatch(id) {
            // No replica of a role it needs is ready (scale from zero): held until one is.
            self.unrouted.push_back(id);
        }
    }

    /// Whether role `side` (0: prefill or aggregated, 1: decode) has a ready replica.
    fn any_ready(&self, side: usize) -> bool {
        let ids = if side == 0 {
            &self.prefill_ids
        } else {
            &self.decode_ids
        };
        ids.iter()
            .any(|i| self.insts[i.0 as usize].lifecycle == Lifecycle::Ready)
    }

    /// Route an admitted request and queue it where its flow starts. Returns false (and
    /// changes nothing) when a role it needs has no ready replica.
    fn dispatch(&mut self, id: RequestId) -> bool {
        let needs_prefill_role = matches!(self.flow, Flow::Sglang | Flow::Vllm | Flow::Aggregated);
        if !self.any_ready(1) || (needs_prefill_role && !self.any_ready(0)) {
            return false;
        }
        let input = self.reqs[id.0 as usize].input_tokens;
        match self.flow {
            Flow::Aggregated => {
                let (i, _) = self.route(0, id).expect("a ready replica");
                let r = &mut self.reqs[id.0 as usize];
                r.prefill_instance = Some(i);
                r.decode_instance = Some(i);
                r.phase = Phase::Waiting;
                let inst = &mut self.insts[i.0 as usize];
                inst.assign(input);
                inst.waiting.push_back(id);
                self.wake(i);
            }
            Flow::Sglang | Flow::Vllm => {
                // The decode endpoint first: a PD decider (GAIE) may keep the prompt there.
                let (d, local) = self.route(1, id).expect("a ready replica");
                self.insts[d.0 as usize].assign(input);
                self.reqs[id.0 as usize].decode_instance = Some(d);
                if local {
                    self.prefill_on_decode(id, d);
                    return true;
                }
                let (p, _) = self.route(0, id).expect("a ready replica");
                self.reqs[id.0 as usize].prefill_instance = Some(p);
                self.insts[p.0 as usize].assign(input);
                if self.flow == Flow::Sglang {
                    // The decode server pre-allocates KV before the prefill may start.
                    self.reqs[id.0 as usize].phase = Phase::AwaitingDecodeKv;
                    self.insts[d.0 as usize].kv_wait.push_back(id);
                    self.try_reserve(d);
                } else {
                    self.reqs[id.0 as usize].phase = Phase::Waiting;
                    self.insts[p.0 as usize].waiting.push_back(id);
                    self.wake(p);
                }
            }
            Flow::Dynamo => {
                let (d, _) = self.route(1, id).expect("a ready replica");
                self.insts[d.0 as usize].assign(input);
                let dy = &self.sc.dynamo;
                let local = input <= dy.max_local_prefill_tokens
                    || self.prefill_queue.len() >= dy.max_prefill_queue as usize;
                let r = &mut self.reqs[id.0 as usize];
                r.decode_instance = Some(d);
                if local {
                    self.prefill_on_decode(id, d);
                } else {
                    r.phase = Phase::AwaitingDecodeKv;
                    self.insts[d.0 as usize].kv_wait.push_back(id);
                    self.try_reserve(d);
                }
            }
        }
        true
    }

    /// Compute the prompt on its decode instance `d` (Dynamo's local prefill, a PD
    /// decider's choice): it queues there like an aggregated request.
    fn prefill_on_decode(&mut self, id: RequestId, d: InstanceId) {
        let r = &mut self.reqs[id.0 as usize];
        r.prefill_instance = Some(d);
        r.local_prefill = true;
        r.phase = Phase::Waiting;
        self.insts[d.0 as usize].waiting.push_back(id);
        self.wake(d);
    }

    /// Route request `id` with the router of `side` (0: prefill or aggregated, 1:
    /// decode). Returns the instance and whether the router's PD decider wants the
    /// prompt computed on that (decode) instance.
    fn route(&mut self, side: usize, id: RequestId) -> Option<(InstanceId, bool)> {
        let all = if side == 0 {
            &self.prefill_ids
        } else {
            &self.decode_ids
        };
        // Routers see the ready replicas only (the gateway's endpoint list).
        let ids: Vec<InstanceId> = all
            .iter()
            .copied()
            .filter(|i| self.insts[i.0 as usize].lifecycle == Lifecycle::Ready)
            .collect();
        if ids.is_empty() {
            return None;
        }
        let r = &self.reqs[id.0 as usize];
        let req = RouteRequest {
            input_tokens: r.input_tokens,
            prefix_keys: &r.prefix_keys,
            hash_block_tokens: r.hash_block_tokens,
            session: r.session,
        };
        let exact = self.routers[side].wants_cache_state();
        let loads: Vec<InstanceLoad> = ids
            .iter()
            .map(|i| {
                let x = &self.insts[i.0 as usize];
                InstanceLoad {
                    id: i.0,
                    outstanding: x.outstanding,
                    waiting: x.queued(),
                    running: x.running(),
                    kv_utilization: x.kv_utilization(),
                    cached_blocks: if exact {
                        x.cache.match_len(&r.prefix_keys) as u32
                    } else {
                        0
                    },
                    active_tokens: x.assigned_tokens,
                }
            })
            .collect();
        let k = self.routers[side].route(&req, &loads, &mut self.router_rngs[side]);
        let local = self.routers[side].prefill_locally(&loads[k], &req);
        Some((ids[k], local))
    }

    // ----- decode-side KV reservation -----------------------------------------------------

    /// Reserve KV on decode instance `d` for the requests waiting for it, in order.
    fn try_reserve(&mut self, d: InstanceId) {
        loop {
            let inst = &self.insts[d.0 as usize];
            let Some(&id) = inst.kv_wait.front() else {
                break;
            };
            // The decode side needs KV for the prompt except what its own prefix cache
            // already holds (those tokens are not transferred either).
            let r = &self.reqs[id.0 as usize];
            let ctx = r.context_after_prefill();
            let hit = inst.cached_prefix(&r.prefix_keys, ctx as u32, r.hash_block_tokens);
            let shared = hit as u64 * u64::from(r.hash_block_tokens);
            let need = blocks_for(ctx - shared, inst.block_tokens())
                + inst.cache.unreferenced(&r.prefix_keys[..hit]) * inst.cache.engine_blocks();
            // SGLang keeps room for the decode growth of every request holding KV here
            // (`SGLANG_NUM_RESERVED_DECODE_TOKENS`, 512, in disaggregation/decode.py).
            let headroom = if self.flow == Flow::Sglang {
                let holders =
                    inst.running() as u64 + inst.slot_wait.len() as u64 + inst.reserved_inflight;
                holders * blocks_for(SGLANG_RESERVED_DECODE_TOKENS, inst.block_tokens())
            } else {
                0
            };
            if need + headroom > inst.available_blocks() {
                break;
            }
            let inst = &mut self.insts[d.0 as usize];
            inst.kv_wait.pop_front();
            let r = &mut self.reqs[id.0 as usize];
            inst.cache.acquire(&r.prefix_keys[..hit]);
            r.refs_local = hit as u32;
            r.transfer_skipped_tokens = shared as u32;
            let private = blocks_for(ctx - shared, inst.block_tokens());
            inst.take_blocks(private);
            inst.reserved_inflight += 1;
            r.reserved_blocks = private as u32;
            match self.flow {
                Flow::Sglang => {
                    self.reqs[id.0 as usize].phase = Phase::Bootstrapping;
                    let at =
                        self.now + SimDuration::from_millis_f64(self.sc.kv_transfer.bootstrap_ms);
                    self.queue.push(at, Event::Bootstrapped(id));
                }
                Flow::Vllm => self.start_transfer(id, None),
                Flow::Dynamo => {
                    self.reqs[id.0 as usize].phase = Phase::InPrefillQueue;
                    self.prefill_queue.push_back(id);
                    for k in 0..self.prefill_ids.len() {
                        let p = self.prefill_ids[k];
                        if self.insts[p.0 as usize].lifecycle == Lifecycle::Ready {
                            self.wake(p);
                        }
                    }
                }
                Flow::Aggregated => unreachable!("aggregated serving reserves no remote KV"),
            }
        }
    }

    fn on_bootstrapped(&mut self, id: RequestId) {
        let r = &mut self.reqs[id.0 as usize];
        r.phase = Phase::Waiting;
        let p = r.prefill_instance.expect("routed");
        self.insts[p.0 as usize].waiting.push_back(id);
        self.wake(p);
    }

    // ----- steps --------------------------------------------------------------------------

    fn wake(&mut self, i: InstanceId) {
        let inst = &mut self.insts[i.0 as usize];
        if !inst.busy && !inst.wake_pending {
            inst.wake_pending = true;
            self.queue.push(self.now, Event::TryStep(i));
        }
    }

    fn try_start_step(&mut self, i: InstanceId) {
        if self.insts[i.0 as usize].busy {
            return;
        }
        let inst = &self.insts[i.0 as usize];
        if self.flow == Flow::Dynamo
            && inst.role == Role::Prefill
            && inst.lifecycle == Lifecycle::Ready
        {
            self.pull_remote_prefills(i);
        }
        let mut preempted = std::mem::take(&mut self.scratch);
        let mut any_preempted = false;
        let plan = loop {
            // Slots freed since the last step (finishes, preemptions) go to requests whose
            // KV is already here before any new prefill is admitted.
            self.admit_decoders(i);
            preempted.clear();
            let plan = self.insts[i.0 as usize].plan_step(self.now, &mut self.reqs, &mut preempted);
            any_preempted |= !preempted.is_empty();
            // Preemption that emptied the batch changed what can run: plan again. Each
            // round preempts at least one request, so this ends.
            if plan.is_some() || preempted.is_empty() {
                break plan;
            }
        };
        self.scratch = preempted;
        let Some(plan) = plan else { return };
        let inst = &mut self.insts[i.0 as usize];
        let seconds = inst.cost.step_seconds(&plan.shape);
        let dur = SimDuration::from_secs_f64(seconds);
        inst.busy = true;
        inst.plan = plan;
        self.queue.push(self.now + dur, Event::StepDone(i));
        if any_preempted {
            // Their slots are free now; waiting decoders join when this step ends.
            self.admit_decoders(i);
        }
    }

    /// Dynamo prefill workers pull from the global prefill queue while their own queue
    /// holds less than a step's token budget.
    fn pull_remote_prefills(&mut self, p: InstanceId) {
        loop {
            let inst = &self.insts[p.0 as usize];
            let queued: u64 = inst
                .waiting
                .iter()
                .map(|r| u64::from(self.reqs[r.0 as usize].prefill_target))
                .sum();
            if queued >= u64::from(inst.engine.max_batched_tokens) {
                break;
            }
            let Some(id) = self.prefill_queue.pop_front() else {
                break;
            };
            let r = &mut self.reqs[id.0 as usize];
            r.prefill_instance = Some(p);
            r.phase = Phase::Waiting;
            let tokens = r.input_tokens;
            let inst = &mut self.insts[p.0 as usize];
            inst.assign(tokens);
            inst.waiting.push_back(id);
        }
    }

    fn on_step_done(&mut self, i: InstanceId, sink: &mut dyn FnMut(&RequestRecord)) {
        let now = self.now;
        let inst = &mut self.insts[i.0 as usize];
        inst.busy = false;
        let plan = std::mem::take(&mut inst.plan);
        let dur = now.since(plan.start).as_nanos();
        inst.busy_ns += dur;
        inst.steps += 1;
        inst.window.busy_ns += dur;
        inst.window.prefill_tokens += plan.shape.prefill_tokens;
        // Decode first: requests that finish their prompt in this step join the decode set
        // only after it advanced.
        if plan.decode {
            let n = inst.decode.len() as u64;
            let joined = inst.new_decoders.len() as u64;
            let gap_ms = now.since(inst.last_decode_end).as_millis_f64();
            self.collector.itl(gap_ms, n - joined);
            for k in 0..inst.new_decoders.len() {
                let r = &mut self.reqs[inst.new_decoders[k].0 as usize];
                let last = r
                    .last_token
                    .expect("a decoding request has emitted a token");
                self.collector.itl(now.since(last).as_millis_f64(), 1);
            }
            inst.new_decoders.clear();
            inst.decode.advance();
            inst.last_decode_end = now;
            inst.window.decode_tokens += n;
            inst.join_pending(&mut self.reqs);
            while let Some(id) = self.insts[i.0 as usize].pop_finished() {
                let inst = &mut self.insts[i.0 as usize];
                let r = &mut self.reqs[id.0 as usize];
                r.generated = r.output_tokens;
                r.last_token = Some(now);
                inst.leave_decode(r);
                self.finish(id, i, sink);
            }
        }
        for (id, chunk) in plan.chunks {
            let r = &mut self.reqs[id.0 as usize];
            r.prefilled += chunk;
            if r.prefilled == r.prefill_target {
                self.prompt_done(i, id, plan.start, sink);
            }
        }
        self.try_start_step(i);
        self.maybe_stop(i);
    }

    /// A request's prompt (or recompute) finished on instance `i` at the end of a step
    /// that started at `step_start`.
    fn prompt_done(
        &mut self,
        i: InstanceId,
        id: RequestId,
        step_start: SimTime,
        sink: &mut dyn FnMut(&RequestRecord),
    ) {
        let now = self.now;
        let inst = &mut self.insts[i.0 as usize];
        let pos = inst
            .prefilling
            .iter()
            .position(|&x| x == id)
            .expect("prefilling request");
        inst.prefilling.remove(pos);
        let r = &mut self.reqs[id.0 as usize];
        r.generated += 1;
        match inst.role {
            Role::Mixed | Role::Decode => {
                r.first_token.get_or_insert(now);
                r.last_token = Some(now);
                inst.publish_prompt(&r.prefix_keys, &mut r.refs_local, &mut r.blocks);
                if r.generated >= r.output_tokens {
                    let blocks = u64::from(r.blocks);
                    r.blocks = 0;
                    inst.give_blocks(blocks);
                    inst.release_prefix(&r.prefix_keys, &mut r.refs_local);
                    self.finish(id, i, sink);
                } else {
                    // The request keeps its running slot: it moves from prefill to decode.
                    inst.join_decode(id, r);
                }
            }
            Role::Prefill => {
                inst.publish_prompt(&r.prefix_keys, &mut r.refs_prefill, &mut r.blocks);
                match self.flow {
                    Flow::Sglang | Flow::Dynamo => self.start_transfer(id, Some(step_start)),
                    Flow::Vllm => {
                        r.phase = Phase::AwaitingDecodeKv;
                        let d = r.decode_instance.expect("routed");
                        self.insts[d.0 as usize].kv_wait.push_back(id);
                        self.try_reserve(d);
                    }
                    Flow::Aggregated => unreachable!("no prefill-only instances when aggregated"),
                }
            }
        }
    }

    // ----- KV transfer ----------------------------------------------------------------------

    /// Start moving a request's KV from its prefill to its decode instance. With
    /// layer-wise transfer and the final prefill step's start known, the layers computed
    /// during that step stream while it runs (bounded by the link), so only the rest
    /// moves after it; otherwise the connector's setup comes first.
    fn start_transfer(&mut self, id: RequestId, final_step_start: Option<SimTime>) {
        self.reqs[id.0 as usize].phase = Phase::Transferring;
        match (self.sc.kv_transfer.layerwise, final_step_start) {
            (true, Some(start)) => self.begin_flow(id, Some(start)),
            _ => {
                let at = self.now + SimDuration::from_millis_f64(self.sc.kv_transfer.setup_ms);
                self.queue.push(at, Event::TransferStart(id));
            }
        }
    }

    fn on_transfer_start(&mut self, id: RequestId) {
        self.begin_flow(id, None);
    }

    fn begin_flow(&mut self, id: RequestId, overlapped_since: Option<SimTime>) {
        let now = self.now;
        let r = &mut self.reqs[id.0 as usize];
        r.transfer_start = Some(overlapped_since.unwrap_or(now));
        self.transfer_skipped_tokens += u64::from(r.transfer_skipped_tokens);
        let p = &self.insts[r.prefill_instance.expect("routed").0 as usize];
        let d = &self.insts[r.decode_instance.expect("routed").0 as usize];
        let same_node =
            !self.sc.kv_transfer.force_rdma && !p.multi_node && !d.multi_node && p.node == d.node;
        let (src, dst) = if same_node {
            (p.ports.local_out, d.ports.local_in)
        } else {
            (p.ports.nic_out, d.ports.nic_in)
        };
        let bytes = self.kv_bytes_per_token
            * (r.context_after_prefill() - u64::from(r.transfer_skipped_tokens)) as f64;
        let link = self.net.capacity(src).min(self.net.capacity(dst));
        let (remaining, not_before) = match overlapped_since {
            Some(start) => {
                // All layers but the last could stream during the final step.
                let overlapped = now.since(start).as_secs_f64() * link;
                let streamable = bytes * (self.layers - 1.0) / self.layers;
                let last_layer = SimDuration::from_secs_f64(bytes / self.layers / link);
                (bytes - overlapped.min(streamable), now + last_layer)
            }
            None => (bytes, now),
        };
        let generation = self.net.start(now, id, src, dst, remaining, not_before);
        self.arm_transfer_timer(generation);
    }

    fn arm_transfer_timer(&mut self, generation: u64) {
        if let Some(t) = self.net.next_completion() {
            self.queue
                .push(t.max(self.now), Event::TransferTimer { generation });
        }
    }

    fn on_transfer_timer(&mut self, generation: u64, sink: &mut dyn FnMut(&RequestRecord)) {
        if generation != self.net.generation() {
            return; // the flow set changed since this timer was set
        }
        let done = self.net.finish_due(self.now);
        let generation = self.net.generation();
        for id in done {
            self.transfer_done(id, sink);
        }
        // Handlers above may have started flows (and armed timers); arm for this set too.
        if self.net.generation() == generation {
            self.arm_transfer_timer(generation);
        }
    }

    fn transfer_done(&mut self, id: RequestId, sink: &mut dyn FnMut(&RequestRecord)) {
        let now = self.now;
        let r = &mut self.reqs[id.0 as usize];
        r.transfer_ns += now.since(r.transfer_start.expect("started")).as_nanos();
        let p = r.prefill_instance.expect("routed");
        let d = r.decode_instance.expect("routed");
        // The prefill instance frees the KV it sent (its cache keeps the prefix).
        let sent = u64::from(r.blocks);
        r.blocks = r.reserved_blocks;
        r.reserved_blocks = 0;
        r.first_token.get_or_insert(now);
        r.last_token = Some(now);
        let pi = &mut self.insts[p.0 as usize];
        pi.give_blocks(sent);
        pi.release_prefix(&r.prefix_keys, &mut r.refs_prefill);
        pi.unassign(r.input_tokens);
        let di = &mut self.insts[d.0 as usize];
        di.reserved_inflight -= 1;
        di.publish_prompt(&r.prefix_keys, &mut r.refs_local, &mut r.blocks);
        if r.generated >= r.output_tokens {
            let blocks = u64::from(r.blocks);
            r.blocks = 0;
            di.give_blocks(blocks);
            di.release_prefix(&r.prefix_keys, &mut r.refs_local);
            self.wake(p);
            self.finish(id, d, sink);
            return;
        }
        r.phase = Phase::AwaitingDecodeSlot;
        di.slot_wait.push_back(id);
        // Freed prefill KV may unblock requests waiting there.
        self.wake(p);
        self.admit_decoders(d);
    }

    /// Move requests whose KV has arrived into the decode batch while slots are free.
    fn admit_decoders(&mut self, d: InstanceId) {
        let inst = &mut self.insts[d.0 as usize];
        let mut any = false;
        while inst.has_slot() {
            let Some(id) = inst.slot_wait.pop_front() else {
                break;
            };
            inst.join_decode(id, &mut self.reqs[id.0 as usize]);
            any = true;
        }
        if any {
            self.wake(d);
        }
    }

    // ----- completion -----------------------------------------------------------------------

    /// A request produced its last token on instance `d`; its KV there is already freed.
    fn finish(&mut self, id: RequestId, d: InstanceId, sink: &mut dyn FnMut(&RequestRecord)) {
        let tokens = self.reqs[id.0 as usize].input_tokens;
        self.insts[d.0 as usize].unassign(tokens);
        self.end(id, Outcome::Completed, sink);
        if self.flow != Flow::Aggregated {
            self.try_reserve(d);
            self.admit_decoders(d);
        }
        self.maybe_stop(d);
    }

    fn end(&mut self, id: RequestId, outcome: Outcome, sink: &mut dyn FnMut(&RequestRecord)) {
        let rec = self.record(id, outcome);
        if let (false, Some(ttft)) = (self.scalers.is_empty(), rec.ttft_ms) {
            self.signal_latency.push_back((self.now, ttft, rec.tpot_ms));
        }
        self.collector.ended(&rec, self.now.as_secs_f64());
        sink(&rec);
        let client = self.reqs[id.0 as usize].client;
        self.free_slots.push(id.0);
        self.live -= 1;
        self.client_next(client);
    }

    fn record(&self, id: RequestId, outcome: Outcome) -> RequestRecord {
        let r = &self.reqs[id.0 as usize];
        let ms = |d: SimDuration| d.as_millis_f64();
        let done = outcome == Outcome::Completed;
        let ttft = if done {
            r.first_token.map(|t| ms(t.since(r.arrival)))
        } else {
            None
        };
        let e2e = if done {
            Some(ms(self.now.since(r.arrival)))
        } else {
            None
        };
        let tpot = match (done, r.first_token) {
            (true, Some(ft)) if r.output_tokens > 1 => {
                Some(ms(self.now.since(ft)) / f64::from(r.output_tokens - 1))
            }
            _ => None,
        };
        let slo = &self.sc.slo;
        let slo_met = done.then(|| {
            ttft.is_some_and(|t| t <= slo.ttft_ms) && tpot.is_none_or(|t| t <= slo.tpot_ms)
        });
        let transfer = (done && r.transfer_start.is_some()).then_some(r.transfer_ns as f64 * 1e-6);
        RequestRecord {
            id: r.serial,
            arrival_s: r.arrival.as_secs_f64(),
            input_tokens: r.input_tokens,
            output_tokens: r.output_tokens,
            cached_tokens: r.cached_tokens,
            prefill_instance: r.prefill_instance.map(|i| i.0),
            decode_instance: r.decode_instance.map(|i| i.0),
            ttft_ms: ttft,
            tpot_ms: tpot,
            e2e_ms: e2e,
            queue_ms: if done {
                r.prefill_start.map(|t| ms(t.since(r.arrival)))
            } else {
                None
            },
            kv_transfer_ms: transfer,
            slo_met,
            outcome,
            preemptions: r.preemptions,
        }
    }

    // ----- sampling ---------------------------------------------------------------------------

    fn on_sample(&mut self) {
        let window = self.window;
        let t = self.now.as_secs_f64();
        let w = window.as_nanos() as f64;
        let ready = |ids: &[InstanceId]| {
            ids.iter()
                .filter(|i| self.insts[i.0 as usize].lifecycle == Lifecycle::Ready)
                .count() as u32
        };
        let (prefill_replicas, decode_replicas) =
            (ready(&self.prefill_ids), ready(&self.decode_ids));
        for inst in &mut self.insts {
            if inst.lifecycle == Lifecycle::Stopped {
                continue;
            }
            self.series.push(TimeseriesRow {
                state: inst.lifecycle.name(),
                prefill_replicas,
                decode_replicas,
                time_s: t,
                instance: inst.id.0,
                role: inst.role.name(),
                waiting: inst.queued(),
                running: inst.running(),
                kv_utilization: inst.kv_utilization(),
                prefill_tokens: inst.window.prefill_tokens,
                decode_tokens: inst.window.decode_tokens,
                busy_fraction: (inst.window.busy_ns as f64 / w).min(1.0),
            });
            inst.window = Default::default();
        }
        if self.live > 0 {
            self.queue.push(self.now + window, Event::Sample);
        } else {
            self.sampling = false;
        }
    }

    /// Restart sampling at the next window boundary after an idle spell (idle windows,
    /// with no request in the system, are not written).
    fn ensure_sampling(&mut self) {
        if !self.sampling {
            self.sampling = true;
            let w = self.window.as_nanos();
            let next = (self.now.as_nanos() / w + 1).saturating_mul(w);
            self.queue.push(SimTime(next), Event::Sample);
        }
    }
}
