//! Failures and spot reclaims in the event loop (`[failures]`, `[spot]`): GPU and node
//! failure processes, spot instances' reclaim processes and traces of both, their
//! notices, what a failure does to the requests on the instance (lost, or retried by the
//! router), and the replacement.
//!
//! Invariants:
//! - Each process (with `[failures]`: instance `k`'s GPUs, then one per node; then each
//!   spot instance's reclaims) draws its exponential gaps from its own stream
//!   ([`Stream::Failure`], [`Stream::Preemption`]), so failures never move arrivals,
//!   lengths or router choices, and one process's draws do not depend on another's. A
//!   process keeps running while the instance is stopped (failures of GPUs no replica
//!   holds change nothing) and stops drawing once the workload is done and nothing is in
//!   flight, or when its next failure falls after the stop time.
//! - A failure with a notice is announced `notice` earlier (at 0 at the earliest): a
//!   serving instance then drains (routers no longer see it), a starting one drains once
//!   ready; the autoscaler leaves the slot alone until the failure. A replica that
//!   empties before the failure stops and its replacement starts then (its pod is gone);
//!   the failure then only counts. Otherwise the failure replaces it whatever it became.
//! - A failure hits an instance only while it holds its GPUs (starting, ready or
//!   draining), or when announced. Every request on it (queued, computing, decoding, its
//!   KV reserved there, or in a KV transfer to or from it) leaves it through the one
//!   detach path ([`Simulation::detach`]), so KV blocks and counters are freed as for a
//!   timeout and a transfer it takes part in is cancelled, freeing the peer's side too;
//!   it then ends as `lost`, or, while its retry budget lasts, starts over from its
//!   prompt (same serial and arrival) and is routed once every instance the failure
//!   takes is down.
//! - A failed instance that was starting or ready (or announced) is replaced at once in
//!   the same slot (its ReplicaSet creates a new pod): the replacement pays the full cold
//!   start through the one start path ([`Simulation::start_replica`]); one being scaled
//!   down is not replaced. The failed start's pending events go stale (epoch).
//! - A role is down from a notice, or a failure, until the replacement is ready;
//!   availability is `1 - down time / end time` per role.

use super::*;
use crate::scenario::{FailureTarget, FailuresConfig, SpotConfig};
use rand_distr::{Distribution, Exp};

/// The failure state of a run with `[failures]`.
pub(super) struct Failures {
    /// What each process takes down: with `[failures]`, instance `k`'s GPUs for each `k`,
    /// then each node; then each spot instance's reclaims.
    kinds: Vec<Process>,
    /// One stream per process.
    rngs: Vec<SimRng>,
    /// Failure rate of each process, per second (`None`: the process does not run).
    rates: Vec<Option<f64>>,
    /// Notice before each process's failures (zero: none).
    notices: Vec<SimDuration>,
    /// Each process's next failure, once drawn (what its notice announces).
    next_at: Vec<Option<SimTime>>,
    /// Per instance: the failure a notice announced, while it is pending (the instance
    /// drains until then and is replaced then).
    reclaim: Vec<Option<SimTime>>,
    /// Per instance: an announced failure its replica drained ahead of (the replacement
    /// started then): when it comes it takes nothing down.
    absorbed: Vec<Option<SimTime>>,
    /// Times a lost request is retried on another instance.
    budget: u32,
    /// Retries so far.
    retries: u64,
    /// Nodes each instance spans: first node and count.
    spans: Vec<(u32, u32)>,
    /// Instance failures so far, per role (in the system's role order).
    failures: Vec<u64>,
    /// Node failures so far.
    node_failures: u64,
    /// Spot reclaims so far, per role.
    preemptions: Vec<u64>,
    /// Per instance: whether it runs on spot capacity.
    pub(super) spot: Vec<bool>,
    /// Instances whose replacement is starting.
    recovering: Vec<bool>,
    /// Per role: replacements starting, and since when the role is down.
    down: Vec<(u32, SimTime)>,
    /// Per role: time down so far, ns.
    down_ns: Vec<u64>,
}

/// What a failure process takes down.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Process {
    /// An instance's GPUs (`failures.gpu-mtbf-hours`).
    Gpu(u16),
    /// A node (`failures.node-mtbf-hours`).
    Node(u32),
    /// A spot instance's reclaims (`spot.preemption-rate-per-hour`).
    Spot(u16),
}

impl Failures {
    /// The state for `cfg` and `spot_cfg` over instances of TP `tps` spanning `spans`, spot
    /// where `spot` says so, `nodes` nodes and `roles` roles.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        cfg: Option<&FailuresConfig>,
        spot_cfg: Option<&SpotConfig>,
        streams: &Streams,
        tps: &[u32],
        spot: Vec<bool>,
        spans: Vec<(u32, u32)>,
        nodes: u32,
        roles: usize,
    ) -> Failures {
        let (mut kinds, mut rngs, mut rates, mut notices) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        if let Some(cfg) = cfg {
            for (k, &tp) in tps.iter().enumerate() {
                kinds.push(Process::Gpu(k as u16));
                rates.push(cfg.instance_rate_per_s(tp));
            }
            for node in 0..nodes {
                kinds.push(Process::Node(node));
                rates.push(cfg.node_rate_per_s());
            }
            rngs.extend((0..kinds.len() as u32).map(|k| streams.get(Stream::Failure(k))));
            notices.resize(kinds.len(), cfg.drain_notice);
        }
        if let Some(s) = spot_cfg {
            for (i, _) in spot.iter().enumerate().filter(|(_, s)| **s) {
                kinds.push(Process::Spot(i as u16));
                rates.push(s.rate_per_s());
                rngs.push(streams.get(Stream::Preemption(i as u32)));
                notices.push(s.notice);
            }
        }
        let processes = kinds.len();
        Failures {
            kinds,
            rngs,
            rates,
            notices,
            next_at: vec![None; processes],
            reclaim: vec![None; tps.len()],
            absorbed: vec![None; tps.len()],
            budget: cfg.map_or(0, |c| c.retries),
            retries: 0,
            spans,
            failures: vec![0; roles],
            node_failures: 0,
            preemptions: vec![0; roles],
            spot,
            recovering: vec![false; tps.len()],
            down: vec![(0, SimTime::ZERO); roles],
            down_ns: vec![0; roles],
        }
    }

    /// Instance `i` of role `memo` stopped serving at `now` until a replacement is ready:
    /// its role is down from now (once per instance).
    fn start_down(&mut self, i: InstanceId, memo: usize, now: SimTime) {
        if !std::mem::replace(&mut self.recovering[usize::from(i.0)], true) {
            let d = &mut self.down[memo];
            if d.0 == 0 {
                d.1 = now;
            }
            d.0 += 1;
        }
    }
}

/// One role's availability under failures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RoleAvailability {
    /// The role.
    pub role: &'static str,
    /// Its instances that failed.
    pub failures: u64,
    /// Its spot instances reclaimed.
    pub preemptions: u64,
    /// Time one of its replacements was starting, s.
    pub down_s: f64,
    /// `1 - down_s / end_s`: the fraction of the run the role had all the replicas its
    /// controllers wanted serving, failures aside.
    pub availability: f64,
}

/// What failures did in a run (`[failures]` only).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FailureReport {
    /// Instances that failed (a node failure counts each instance on it).
    pub instance_failures: u64,
    /// Node failures (processes and trace).
    pub node_failures: u64,
    /// Spot instances reclaimed (processes and trace).
    pub preemptions: u64,
    /// Requests lost to a failure and retried on another instance (`failures.retries`),
    /// counting each retry.
    pub retries: u64,
    /// Per role, in the system's role order.
    pub roles: Vec<RoleAvailability>,
}

impl Simulation<'_> {
    /// Schedule the first failure of every process and every trace entry.
    pub(super) fn start_failures(&mut self) {
        if self.failures.is_none() {
            return;
        }
        let mut trace: Vec<(SimTime, SimDuration, FailureSource)> = Vec::new();
        if let Some(cfg) = &self.sc.failures {
            trace.extend(
                (cfg.events.iter().enumerate())
                    .map(|(j, e)| (e.at, e.notice, FailureSource::Trace(j as u32))),
            );
        }
        // The baseline has no spot instance: the reclaims name the deployment's.
        let has_spot = self
            .failures
            .as_ref()
            .is_some_and(|f| f.spot.contains(&true));
        if let Some(spot) = self.sc.spot.as_ref().filter(|_| has_spot) {
            trace.extend(
                (spot.events.iter().enumerate())
                    .map(|(j, e)| (e.at, spot.notice, FailureSource::Spot(j as u32))),
            );
        }
        for (at, notice, source) in trace {
            if notice > SimDuration::ZERO {
                let from = SimTime(at.as_nanos().saturating_sub(notice.as_nanos()));
                self.queue.push(from, Event::Notice(source));
            }
            self.queue.push(at, Event::Failure(source));
        }
        let processes = self.failures.as_ref().map_or(0, |f| f.rates.len());
        for k in 0..processes as u32 {
            self.schedule_failure(k);
        }
    }

    /// Draw process `k`'s next failure; none when it would fall after the stop time.
    fn schedule_failure(&mut self, k: u32) {
        let Some(f) = self.failures.as_mut() else {
            return;
        };
        let Some(rate) = f.rates[k as usize] else {
            return;
        };
        // Valid by construction: the MTBF range keeps the rate finite and > 0.
        let exp = Exp::new(rate).expect("a finite positive failure rate");
        let gap = exp.sample(&mut f.rngs[k as usize]);
        let left = self.stop.since(self.now).as_secs_f64();
        if gap <= left {
            let at = self.now + SimDuration::from_secs_f64(gap);
            let notice = f.notices[k as usize];
            f.next_at[k as usize] = Some(at);
            if notice > SimDuration::ZERO {
                let from = SimTime(at.as_nanos().saturating_sub(notice.as_nanos())).max(self.now);
                self.queue
                    .push(from, Event::Notice(FailureSource::Process(k)));
            }
            self.queue
                .push(at, Event::Failure(FailureSource::Process(k)));
        }
    }

    /// What a failure source takes down, and when: a process's next failure or a trace
    /// entry's.
    /// Whether it is a spot reclaim.
    fn failure_target(&self, source: FailureSource) -> (FailureTarget, Option<SimTime>, bool) {
        match source {
            FailureSource::Process(k) => {
                let f = self.failures.as_ref().expect("failure state");
                let (target, spot) = match f.kinds[k as usize] {
                    Process::Gpu(i) => (FailureTarget::Instance(i), false),
                    Process::Node(node) => (FailureTarget::Node(node), false),
                    Process::Spot(i) => (FailureTarget::Instance(i), true),
                };
                (target, f.next_at[k as usize], spot)
            }
            FailureSource::Trace(j) => {
                let cfg = self.sc.failures.as_ref().expect("failure events");
                let e = &cfg.events[j as usize];
                (e.target, Some(e.at), false)
            }
            FailureSource::Spot(j) => {
                let cfg = self.sc.spot.as_ref().expect("spot events");
                let e = &cfg.events[j as usize];
                (FailureTarget::Instance(e.instance), Some(e.at), true)
            }
        }
    }

    /// The instances `target` takes down (an instance index the system lacks: none).
    fn instances_of(&self, target: FailureTarget) -> Vec<InstanceId> {
        let n = self.insts.len() as u32;
        match target {
            FailureTarget::Instance(i) if u32::from(i) < n => vec![InstanceId(i)],
            FailureTarget::Instance(_) => Vec::new(),
            FailureTarget::Node(node) => {
                let f = self.failures.as_ref().expect("failure state");
                self.insts
                    .ids()
                    .filter(|&i| {
                        let (first, count) = f.spans[usize::from(i.0)];
                        (first..first + count).contains(&node)
                    })
                    .collect()
            }
        }
    }

    /// A failure's notice: the instances it will take down stop taking requests and
    /// drain until it comes.
    pub(super) fn on_notice(&mut self, source: FailureSource) {
        let (target, at, _) = self.failure_target(source);
        let Some(at) = at else { return };
        for i in self.instances_of(target) {
            self.notice_instance(i, at);
        }
    }

    /// Instance `i` learns it goes at `at`: a serving replica drains from now on (its
    /// role counts as down until the replacement is ready); a starting one drains once
    /// started. Either is replaced at `at`. A stopped or draining one is not concerned.
    fn notice_instance(&mut self, i: InstanceId, at: SimTime) {
        let was = self.insts[i].lifecycle();
        if matches!(was, Lifecycle::Stopped | Lifecycle::Draining) {
            return;
        }
        let now = self.now;
        let memo = self.insts[i].memo();
        let f = self.failures.as_mut().expect("failure state");
        let r = &mut f.reclaim[usize::from(i.0)];
        *r = Some(r.map_or(at, |t| t.min(at)));
        if was == Lifecycle::Ready {
            f.start_down(i, memo, now);
            self.transition(i, Lifecycle::Draining);
            self.maybe_stop(i);
        }
    }

    /// Draining instance `i` emptied and stopped: if a failure was announced to it, its
    /// pod is gone and the ReplicaSet's replacement starts now (the failure, when it
    /// comes, takes nothing down).
    pub(super) fn drained_ahead(&mut self, i: InstanceId) {
        let Some(f) = self.failures.as_mut() else {
            return;
        };
        let k = usize::from(i.0);
        let Some(at) = f.reclaim[k].take() else {
            return;
        };
        f.absorbed[k] = Some(at);
        self.start_replica(i);
    }

    /// Whether instance `i` awaits a failure a notice announced (the autoscaler leaves
    /// its slot alone, and a start finishing then drains at once).
    pub(super) fn reclaim_pending(&self, i: InstanceId) -> bool {
        self.failures
            .as_ref()
            .is_some_and(|f| f.reclaim[usize::from(i.0)].is_some())
    }

    /// The autoscaler removed starting instance `i`: a failure announced for it has
    /// nothing left to replace.
    pub(super) fn forget_reclaim(&mut self, i: InstanceId) {
        if let Some(f) = self.failures.as_mut() {
            f.reclaim[usize::from(i.0)] = None;
        }
    }

    /// A failure: process `k`'s (drawing its next) or a trace entry's.
    pub(super) fn on_failure(
        &mut self,
        source: FailureSource,
        sink: &mut dyn FnMut(&RequestRecord),
    ) {
        let (target, _, spot) = self.failure_target(source);
        if let FailureSource::Process(k) = source {
            let f = self.failures.as_mut().expect("failure state");
            f.next_at[k as usize] = None;
            if self.live > 0 || !self.gen_done {
                self.schedule_failure(k);
            }
        }
        if let FailureTarget::Node(_) = target {
            self.failures.as_mut().expect("failure state").node_failures += 1;
        }
        // Retried requests are routed once every instance the failure takes is down.
        let mut retried = Vec::new();
        for i in self.instances_of(target) {
            self.fail_instance(i, spot, sink, &mut retried);
        }
        for id in retried {
            if !self.dispatch(id) {
                self.unrouted.push_back(id);
            }
        }
    }

    /// Instance `i` fails now: its requests are lost (or retried, into `retried`), its
    /// start (if any) is cancelled, and a replacement starts unless it was draining
    /// (being scaled down). An instance a notice announced this failure to is replaced
    /// whatever it became since (drained and stopped, or draining).
    fn fail_instance(
        &mut self,
        i: InstanceId,
        spot: bool,
        sink: &mut dyn FnMut(&RequestRecord),
        retried: &mut Vec<RequestId>,
    ) {
        let now = self.now;
        let was = self.insts[i].lifecycle();
        let f = self.failures.as_mut().expect("failure state");
        let k = usize::from(i.0);
        if f.absorbed[k] == Some(now) {
            // Its replica drained and left ahead of it: counted, nothing taken down.
            f.absorbed[k] = None;
            let memo = self.insts[i].memo();
            if spot {
                f.preemptions[memo] += 1;
            } else {
                f.failures[memo] += 1;
            }
            self.scale_events.push(ScaleEvent {
                time_s: now.as_secs_f64(),
                instance: i.0,
                role: self.insts[i].role().name(),
                state: if spot { "preempted" } else { "failed" },
            });
            return;
        }
        // An instance a failure was announced to goes now (an earlier failure comes
        // first: the announced one then only counts) and is replaced.
        let announced = match f.reclaim[k].take() {
            Some(at) => {
                if at != now {
                    f.absorbed[k] = Some(at);
                }
                true
            }
            None => false,
        };
        if was == Lifecycle::Stopped && !announced {
            return;
        }
        let memo = self.insts[i].memo();
        if spot {
            f.preemptions[memo] += 1;
        } else {
            f.failures[memo] += 1;
        }
        let victims: Vec<RequestId> = self
            .reqs
            .ids()
            .filter(|&id| {
                let r = &self.reqs[id];
                r.phase != Phase::Ended
                    && !r.aborted
                    && (r.decode_instance == Some(i)
                        || (r.prefill_instance == Some(i) && !r.kv_sent))
            })
            .collect();
        for id in victims {
            self.lose(id, sink, retried);
        }
        if was == Lifecycle::Starting {
            self.cancel_load(i);
            if self.storage.cancel(now, LoadFlow::Replica(i)) {
                let generation = self.storage.generation();
                self.arm_storage_timer(generation);
            }
        }
        let inst = &mut self.insts[i];
        inst.cancel_start();
        self.scale_events.push(ScaleEvent {
            time_s: now.as_secs_f64(),
            instance: i.0,
            role: inst.role().name(),
            state: if spot { "preempted" } else { "failed" },
        });
        if inst.lifecycle() != Lifecycle::Stopped {
            inst.set_lifecycle(Lifecycle::Stopped, now);
        }
        if was == Lifecycle::Draining && !announced {
            return;
        }
        self.start_replica(i);
        let f = self.failures.as_mut().expect("failure state");
        f.start_down(i, memo, now);
    }

    /// Request `id` was on a failed instance: the router retries it on another one
    /// while its budget lasts (from its prompt, into `retried`, routed by the caller),
    /// else it ends as lost.
    fn lose(
        &mut self,
        id: RequestId,
        sink: &mut dyn FnMut(&RequestRecord),
        retried: &mut Vec<RequestId>,
    ) {
        let f = self.failures.as_mut().expect("failure state");
        if self.reqs[id].retries >= f.budget {
            self.abort_request(id, Outcome::Lost, sink);
            return;
        }
        f.retries += 1;
        let (p, d) = self.detach(id);
        let old = &self.reqs[id];
        let mut fresh = Request::new(
            old.serial,
            old.arrival,
            old.input_tokens,
            old.output_tokens,
            old.client,
        );
        fresh.session = old.session;
        fresh.warmup = old.warmup;
        fresh.prefix_keys = old.prefix_keys.clone();
        fresh.hash_block_tokens = old.hash_block_tokens;
        fresh.retries = old.retries + 1;
        let (arrival, serial) = (old.arrival, old.serial);
        let new = if old.aborted {
            // An event still names the old slot (it frees it when it pops): the retry
            // takes another, with its own client timeout at the original instant.
            let (slot, old_bytes) = match self.free_slots.pop() {
                Some(slot) => {
                    let bytes = super::request_bytes(&self.reqs[slot]);
                    self.reqs[slot] = fresh;
                    (slot, bytes)
                }
                None => (self.reqs.push(fresh), 0),
            };
            self.hold(slot, old_bytes);
            if let Some(t) = self.timeout {
                self.queue
                    .push_late((arrival + t).max(self.now), Event::Timeout(slot, serial));
            }
            slot
        } else {
            let old_bytes = super::request_bytes(old);
            self.reqs[id] = fresh;
            self.hold(id, old_bytes);
            id
        };
        self.wake_detached(p, d);
        retried.push(new);
    }

    /// Instance `i` became ready or its start was cancelled by its controller: if it
    /// was a replacement, its role is one replacement closer to up.
    pub(super) fn recovered(&mut self, i: InstanceId) {
        let now = self.now;
        let memo = self.insts[i].memo();
        let Some(f) = self.failures.as_mut() else {
            return;
        };
        if std::mem::replace(&mut f.recovering[usize::from(i.0)], false) {
            let d = &mut f.down[memo];
            d.0 -= 1;
            if d.0 == 0 {
                f.down_ns[memo] += now.since(d.1).as_nanos();
            }
        }
    }

    /// The run's failure report, up to `end`.
    pub(super) fn failure_report(&self, end: SimTime) -> Option<FailureReport> {
        let f = self.failures.as_ref()?;
        let mut names = vec![""; f.failures.len()];
        for x in self.insts.iter() {
            names[x.memo()] = x.role().name();
        }
        let end_s = end.as_secs_f64();
        let roles = (0..f.failures.len())
            .map(|k| {
                let (pending, since) = f.down[k];
                let open = if pending > 0 {
                    end.since(since).as_nanos()
                } else {
                    0
                };
                let down_s = (f.down_ns[k] + open) as f64 * 1e-9;
                RoleAvailability {
                    role: names[k],
                    failures: f.failures[k],
                    preemptions: f.preemptions[k],
                    down_s,
                    availability: if end_s > 0.0 {
                        1.0 - (down_s / end_s).min(1.0)
                    } else {
                        1.0
                    },
                }
            })
            .collect();
        Some(FailureReport {
            instance_failures: f.failures.iter().sum(),
            node_failures: f.node_failures,
            preemptions: f.preemptions.iter().sum(),
            retries: f.retries,
            roles,
        })
    }
}
