//! Autoscaling in the event loop: per-role controllers acting at their sync instants,
//! replicas that become ready only after a cold start, and scale-down by draining.
//!
//! Invariants:
//! - A role's instances are created up front (its autoscaler's maximum); those beyond
//!   the initial count start `Stopped`. Only `Ready` instances are routed to.
//! - A start goes scheduling + image pull, then a weight-load flow over the shared
//!   storage (or the node-local cache) whose bandwidth concurrent loaders share
//!   max-min fairly, then warm-up; with the storage model (`mount`/`preset`), the weight
//!   load is the phases of `loading.rs`. Cancelling a start bumps the instance's epoch, so
//!   its pending events are ignored.
//! - Scale-down removes starting replicas first (highest index first), then drains ready
//!   ones (highest index first); a draining replica stops once it has nothing in flight.
//! - GPU time is accounted from start to stop, so GPU-hours follow the replica count.

use super::{LoadFlow, ScaleEvent, Simulation};
use crate::event::Event;
use crate::id::InstanceId;
use crate::instance::Lifecycle;
use crate::metrics::percentile_sorted;
use crate::policy::autoscale::{Autoscaler, RoleSignals};
use crate::time::{SimDuration, SimTime};

/// One autoscaled role.
pub(super) struct RoleScaler {
    /// The role's instances (all that may ever run), in index order.
    pub(super) ids: Vec<InstanceId>,
    /// Its controller.
    pub(super) policy: Box<dyn Autoscaler + Send>,
    /// Signal window.
    pub(super) window: SimDuration,
    /// Latency percentile the policy reads (`None`: the mean).
    pub(super) percentile: Option<f64>,
}

impl Simulation<'_> {
    /// Move instance `i` to `to` now, and log it.
    pub(super) fn transition(&mut self, i: InstanceId, to: Lifecycle) {
        let inst = &mut self.insts[i];
        inst.set_lifecycle(to, self.now);
        self.scale_events.push(ScaleEvent {
            time_s: self.now.as_secs_f64(),
            instance: i.0,
            role: inst.role().name(),
            state: to.name(),
        });
    }

    /// Schedule every controller's first sync, one period after the start.
    pub(super) fn start_autoscalers(&mut self) {
        for k in 0..self.scalers.len() {
            let period = self.scalers[k].policy.sync_period();
            self.queue
                .push(SimTime::ZERO + period, Event::Autoscale(k as u8));
        }
    }

    /// A controller's sync: read the role's signals, apply the replica count it wants.
    pub(super) fn on_autoscale(&mut self, k: usize) {
        self.prune_signals();
        let signals = self.role_signals(k);
        let desired = self.scalers[k].policy.desired(&signals);
        self.apply_replicas(k, desired);
        if self.live > 0 || !self.gen_done {
            let period = self.scalers[k].policy.sync_period();
            self.queue
                .push(self.now + period, Event::Autoscale(k as u8));
        }
    }

    fn prune_signals(&mut self) {
        let horizon = self
            .now
            .as_nanos()
            .saturating_sub(self.signal_horizon.as_nanos());
        while self
            .signal_arrivals
            .front()
            .is_some_and(|a| a.0.as_nanos() < horizon)
        {
            self.signal_arrivals.pop_front();
        }
        while self
            .signal_latency
            .front()
            .is_some_and(|a| a.0.as_nanos() < horizon)
        {
            self.signal_latency.pop_front();
        }
    }

    fn role_signals(&self, k: usize) -> RoleSignals {
        let sc = &self.scalers[k];
        let from = self.now.as_nanos().saturating_sub(sc.window.as_nanos());
        let mut s = RoleSignals {
            now: self.now,
            ..RoleSignals::default()
        };
        let mut kv = 0.0;
        for id in &sc.ids {
            let x = &self.insts[*id];
            match x.lifecycle() {
                Lifecycle::Ready => {
                    s.ready += 1;
                    s.queued += x.queued();
                    s.inflight += x.outstanding();
                    kv += x.kv_utilization();
                }
                Lifecycle::Starting => s.starting += 1,
                Lifecycle::Draining => s.draining += 1,
                Lifecycle::Stopped => {}
            }
        }
        s.queued += self.unrouted.len() as u32;
        s.kv_utilization = if s.ready > 0 {
            kv / f64::from(s.ready)
        } else {
            0.0
        };
        // Before a full window has passed, rates are over the time elapsed.
        let window_s = sc
            .window
            .as_secs_f64()
            .min(self.now.as_secs_f64())
            .max(1e-9);
        let arrivals: Vec<&(SimTime, u32, u32)> = self
            .signal_arrivals
            .iter()
            .filter(|a| a.0.as_nanos() >= from)
            .collect();
        if !arrivals.is_empty() {
            let n = arrivals.len() as f64;
            s.arrival_rate_rps = n / window_s;
            s.mean_input_tokens = arrivals.iter().map(|a| f64::from(a.1)).sum::<f64>() / n;
            s.mean_output_tokens = arrivals.iter().map(|a| f64::from(a.2)).sum::<f64>() / n;
        }
        let pick = |v: &mut Vec<f64>| -> Option<f64> {
            if v.is_empty() {
                return None;
            }
            v.sort_by(f64::total_cmp);
            Some(match sc.percentile {
                Some(p) => percentile_sorted(v, p),
                None => v.iter().sum::<f64>() / v.len() as f64,
            })
        };
        let recent = self
            .signal_latency
            .iter()
            .filter(|a| a.0.as_nanos() >= from);
        let mut ttft: Vec<f64> = recent.clone().map(|a| a.1).collect();
        let mut tpot: Vec<f64> = recent.filter_map(|a| a.2).collect();
        s.ttft_ms = pick(&mut ttft);
        s.tpot_ms = pick(&mut tpot);
        s
    }

    /// Start or remove replicas of role `k` towards `desired`.
    fn apply_replicas(&mut self, k: usize, desired: u32) {
        let ids = self.scalers[k].ids.clone();
        let count = |sim: &Self, l: Lifecycle| {
            ids.iter()
                .filter(|&&i| sim.insts[i].lifecycle() == l)
                .count() as u32
        };
        let current = count(self, Lifecycle::Ready) + count(self, Lifecycle::Starting);
        if desired > current {
            let mut need = desired - current;
            for &i in &ids {
                if need == 0 {
                    break;
                }
                // A slot whose announced failure is pending is replaced then.
                if self.insts[i].lifecycle() == Lifecycle::Stopped && !self.reclaim_pending(i) {
                    self.start_replica(i);
                    need -= 1;
                }
            }
        } else if desired < current {
            let mut extra = current - desired;
            for target in [Lifecycle::Starting, Lifecycle::Ready] {
                for &i in ids.iter().rev() {
                    if extra == 0 {
                        break;
                    }
                    if self.insts[i].lifecycle() == target {
                        self.remove_replica(i);
                        extra -= 1;
                    }
                }
            }
        }
    }

    /// Start replica `i` now (a controller's scale-up, or a failed replica's
    /// replacement): scheduling and image pull, then the weight load.
    pub(super) fn start_replica(&mut self, i: InstanceId) {
        let bytes = self.role_weight_bytes[self.insts[i].memo()];
        let pull = self.prepare_load(i, bytes);
        let at = self.now + self.sc.cold_start.scheduling + pull;
        self.transition(i, Lifecycle::Starting);
        let epoch = self.insts[i].epoch();
        self.queue.push(at, Event::ColdStartLoad(i, epoch));
    }

    fn remove_replica(&mut self, i: InstanceId) {
        let now = self.now;
        let inst = &mut self.insts[i];
        match inst.lifecycle() {
            Lifecycle::Starting => {
                inst.cancel_start();
                self.recovered(i);
                self.forget_reclaim(i);
                self.transition(i, Lifecycle::Stopped);
                self.cancel_load(i);
                if self.storage.cancel(now, LoadFlow::Replica(i)) {
                    let generation = self.storage.generation();
                    self.arm_storage_timer(generation);
                }
            }
            Lifecycle::Ready => {
                self.transition(i, Lifecycle::Draining);
                self.maybe_stop(i);
            }
            Lifecycle::Draining | Lifecycle::Stopped => {}
        }
    }

    /// A draining replica with nothing in flight stops.
    pub(super) fn maybe_stop(&mut self, i: InstanceId) {
        let inst = &self.insts[i];
        if inst.lifecycle() == Lifecycle::Draining && inst.is_idle() {
            self.transition(i, Lifecycle::Stopped);
            self.drained_ahead(i);
        }
    }

    /// Scheduling and image pull are done: load the weights over the storage network.
    pub(super) fn on_cold_start_load(&mut self, i: InstanceId, epoch: u32) {
        let inst = &self.insts[i];
        if inst.epoch() != epoch || inst.lifecycle() != Lifecycle::Starting {
            return;
        }
        if self.loading.is_some() {
            self.begin_load(i);
            return;
        }
        let bytes = self.role_weight_bytes[inst.memo()];
        let src = if self.sc.cold_start.local_cache {
            self.cache_ports[inst.node() as usize % self.cache_ports.len()]
        } else {
            self.storage_port
        };
        let generation = self.storage.start(
            self.now,
            LoadFlow::Replica(i),
            src,
            inst.load_port(),
            bytes,
            self.now,
        );
        self.arm_storage_timer(generation);
    }

    pub(super) fn arm_storage_timer(&mut self, generation: u64) {
        if let Some(t) = self.storage.next_completion() {
            self.queue
                .push(t.max(self.now), Event::StorageTimer { generation });
        }
    }

    /// Weight loads may have finished: warm-up follows (with the storage model, the next
    /// phase of each finished flow).
    pub(super) fn on_storage_timer(&mut self, generation: u64) {
        if generation != self.storage.generation() {
            return;
        }
        let done = self.storage.finish_due(self.now);
        if self.loading.is_some() {
            for key in done {
                self.on_load_flow_done(key);
            }
            let generation = self.storage.generation();
            self.arm_storage_timer(generation);
            return;
        }
        let generation = self.storage.generation();
        for key in done {
            let LoadFlow::Replica(i) = key else {
                unreachable!("no cache fill without the storage model")
            };
            let epoch = self.insts[i].epoch();
            let at = self.now + self.sc.cold_start.warmup;
            self.queue.push(at, Event::InstanceReady(i, epoch));
        }
        self.arm_storage_timer(generation);
    }

    /// Warm-up done: the replica serves; requests held for want of one are routed.
    pub(super) fn on_instance_ready(&mut self, i: InstanceId, epoch: u32) {
        let inst = &self.insts[i];
        if inst.epoch() != epoch || inst.lifecycle() != Lifecycle::Starting {
            return;
        }
        if self.reclaim_pending(i) {
            // A notice came while it started: it drains at once and is replaced when
            // the announced failure comes.
            self.record_cold_start(i);
            self.transition(i, Lifecycle::Draining);
            self.maybe_stop(i);
            return;
        }
        self.transition(i, Lifecycle::Ready);
        self.recovered(i);
        self.record_cold_start(i);
        let held = std::mem::take(&mut self.unrouted);
        for id in held {
            if !self.dispatch(id) {
                self.unrouted.push_back(id);
            }
        }
        self.wake(i);
    }
}
