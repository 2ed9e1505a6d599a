//! Failures in the event loop (`[failures]`): GPU and node failure processes and a trace
//! of failure times, what a failure does to the requests on the instance, and its
//! replacement.
//!
//! Invariants:
//! - Process `k` (instance `k`'s GPUs, then one per node) draws its exponential gaps from
//!   its own stream ([`Stream::Failure`]), so failures never move arrivals, lengths or
//!   router choices, and one process's draws do not depend on another's. A process keeps
//!   running while the instance is stopped (failures of GPUs no replica holds change
//!   nothing) and stops drawing once the workload is done and nothing is in flight, or
//!   when its next failure falls after the stop time.
//! - A failure hits an instance only while it holds its GPUs (starting, ready or
//!   draining). Every request on it (queued, computing, decoding, its KV reserved there,
//!   or in a KV transfer to or from it) ends as `lost` through the one abort path
//!   ([`Simulation::abort_request`]), so KV blocks and counters are freed as for a
//!   timeout; a transfer it takes part in is cancelled, freeing the peer's side too.
//! - A failed instance that was starting or ready is replaced at once in the same slot
//!   (its ReplicaSet creates a new pod): the replacement pays the full cold start through
//!   the one start path ([`Simulation::start_replica`]); a draining one is not replaced.
//!   The failed start's pending events go stale (epoch).
//! - A role is down while one of its replacements is starting; availability is
//!   `1 - down time / end time` per role.

use super::*;
use crate::scenario::{FailureTarget, FailuresConfig};
use rand_distr::{Distribution, Exp};

/// The failure state of a run with `[failures]`.
pub(super) struct Failures {
    /// One stream per process: instances first, then nodes.
    rngs: Vec<SimRng>,
    /// Failure rate of each process, per second (`None`: the process does not run).
    rates: Vec<Option<f64>>,
    /// Nodes each instance spans: first node and count.
    spans: Vec<(u32, u32)>,
    /// Instance failures so far, per role (in the system's role order).
    failures: Vec<u64>,
    /// Node failures so far.
    node_failures: u64,
    /// Instances whose replacement is starting.
    recovering: Vec<bool>,
    /// Per role: replacements starting, and since when the role is down.
    down: Vec<(u32, SimTime)>,
    /// Per role: time down so far, ns.
    down_ns: Vec<u64>,
}

impl Failures {
    /// The state for `cfg` over instances of TP `tps` spanning `spans`, `nodes` nodes and
    /// `roles` roles.
    pub(super) fn new(
        cfg: &FailuresConfig,
        streams: &Streams,
        tps: &[u32],
        spans: Vec<(u32, u32)>,
        nodes: u32,
        roles: usize,
    ) -> Failures {
        let mut rates: Vec<Option<f64>> =
            tps.iter().map(|&tp| cfg.instance_rate_per_s(tp)).collect();
        rates.extend((0..nodes).map(|_| cfg.node_rate_per_s()));
        Failures {
            rngs: (0..rates.len() as u32)
                .map(|k| streams.get(Stream::Failure(k)))
                .collect(),
            rates,
            spans,
            failures: vec![0; roles],
            node_failures: 0,
            recovering: vec![false; tps.len()],
            down: vec![(0, SimTime::ZERO); roles],
            down_ns: vec![0; roles],
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
    /// Per role, in the system's role order.
    pub roles: Vec<RoleAvailability>,
}

impl Simulation<'_> {
    /// Schedule the first failure of every process and every trace entry.
    pub(super) fn start_failures(&mut self) {
        let Some(cfg) = &self.sc.failures else { return };
        for (j, e) in cfg.events.iter().enumerate() {
            self.queue
                .push(e.at, Event::Failure(FailureSource::Trace(j as u32)));
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
            self.queue
                .push(at, Event::Failure(FailureSource::Process(k)));
        }
    }

    /// A failure: process `k`'s (drawing its next) or a trace entry's.
    pub(super) fn on_failure(
        &mut self,
        source: FailureSource,
        sink: &mut dyn FnMut(&RequestRecord),
    ) {
        let n = self.insts.len() as u32;
        let target = match source {
            FailureSource::Process(k) => {
                if self.live > 0 || !self.gen_done {
                    self.schedule_failure(k);
                }
                if k < n {
                    FailureTarget::Instance(k as u16)
                } else {
                    FailureTarget::Node(k - n)
                }
            }
            FailureSource::Trace(j) => {
                let cfg = self.sc.failures.as_ref().expect("failure events");
                cfg.events[j as usize].target
            }
        };
        match target {
            // The aggregated baseline may have fewer instances than the deployment the
            // trace names: an index beyond them fails nothing there.
            FailureTarget::Instance(i) if u32::from(i) < n => {
                self.fail_instance(InstanceId(i), sink)
            }
            FailureTarget::Instance(_) => {}
            FailureTarget::Node(node) => {
                let f = self.failures.as_mut().expect("failure state");
                f.node_failures += 1;
                let on: Vec<InstanceId> = self
                    .insts
                    .ids()
                    .filter(|&i| {
                        let (first, count) = f.spans[usize::from(i.0)];
                        (first..first + count).contains(&node)
                    })
                    .collect();
                for i in on {
                    self.fail_instance(i, sink);
                }
            }
        }
    }

    /// Instance `i` fails now: its requests are lost, its start (if any) is cancelled,
    /// and a replacement starts unless it was draining.
    fn fail_instance(&mut self, i: InstanceId, sink: &mut dyn FnMut(&RequestRecord)) {
        let was = self.insts[i].lifecycle();
        if was == Lifecycle::Stopped {
            return;
        }
        let memo = self.insts[i].memo();
        let f = self.failures.as_mut().expect("failure state");
        f.failures[memo] += 1;
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
            self.abort_request(id, Outcome::Lost, sink);
        }
        let now = self.now;
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
            state: "failed",
        });
        if inst.lifecycle() != Lifecycle::Stopped {
            inst.set_lifecycle(Lifecycle::Stopped, now);
        }
        if was == Lifecycle::Draining {
            return;
        }
        self.start_replica(i);
        let f = self.failures.as_mut().expect("failure state");
        if !std::mem::replace(&mut f.recovering[usize::from(i.0)], true) {
            let d = &mut f.down[memo];
            if d.0 == 0 {
                d.1 = now;
            }
            d.0 += 1;
        }
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
            roles,
        })
    }
}
