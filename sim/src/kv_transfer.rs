//! KV-cache transfer between instances: ports with bandwidth and flows that share them
//! max-min fairly.
//!
//! Each instance has an egress and an ingress port on the RDMA fabric (one NIC per GPU,
//! so the port carries `tp x NIC` bandwidth: every TP rank sends its KV shard through its
//! own NIC, GPU-direct) and another pair on the intra-node link (NVLink or PCIe). A flow
//! crosses the sender's egress and the receiver's ingress port. Whenever a flow starts or
//! ends, the rates of all flows are recomputed by progressive filling (max-min fairness),
//! so concurrent transfers through one NIC share it.
//!
//! Invariants: rates never exceed any port's capacity in sum; a flow's remaining bytes
//! only decrease; a flow completes no earlier than its `not_before` (layer-wise transfer
//! cannot finish before the last layer is computed). Floats live only here; completion
//! instants are rounded up to whole nanoseconds once.

use crate::id::{Id, RequestId};
pub use crate::id::PortId;
use crate::time::SimTime;


#[derive(Clone, Debug)]
struct Flow<K> {
    key: K,
    ports: [PortId; 2],
    remaining_bytes: f64,
    rate: f64,
    not_before: SimTime,
}

/// All transfer ports and the flows in progress; flows are identified by a key `K`
/// (the request whose KV moves, or the instance whose weights load).
#[derive(Clone, Debug)]
pub struct Network<K = RequestId> {
    capacity: Vec<f64>,
    flows: Vec<Flow<K>>,
    last_update: SimTime,
    generation: u64,
    bytes_moved: f64,
    /// Scratch buffers of [`Self::rebalance`], kept to avoid allocating per call.
    scratch: Scratch,
}

/// Working memory of progressive filling (contents meaningless between calls).
#[derive(Clone, Debug, Default)]
struct Scratch {
    /// Per port: capacity left (meaningful on `touched` ports only).
    cap: Vec<f64>,
    /// Per port: unfrozen flows crossing it.
    count: Vec<u32>,
    frozen: Vec<bool>,
    /// Per port: whether its fair share is the round's minimum (`touched` ports only).
    bottleneck: Vec<bool>,
    /// Ports some live flow crosses, each once: the rounds scan these, not every port
    /// of the deployment (a handful of flows on 64+ ports).
    touched: Vec<usize>,
}

impl<K: Copy + PartialEq> Default for Network<K> {
    fn default() -> Self {
        Network {
            capacity: Vec::new(),
            flows: Vec::new(),
            last_update: SimTime::ZERO,
            generation: 0,
            bytes_moved: 0.0,
            scratch: Scratch::default(),
        }
    }
}

impl<K: Copy + PartialEq> Network<K> {
    /// An empty network.
    pub fn new() -> Network<K> {
        Network::default()
    }

    /// Add a port of `bytes_per_s` capacity.
    pub fn add_port(&mut self, bytes_per_s: f64) -> PortId {
        assert!(bytes_per_s > 0.0, "port capacity must be positive");
        self.capacity.push(bytes_per_s);
        PortId((self.capacity.len() - 1) as u32)
    }

    /// Capacity of a port, bytes/s.
    pub fn capacity(&self, p: PortId) -> f64 {
        self.capacity[p.index()]
    }

    /// Generation of the flow set: bumped on every change, so a timer set for an older
    /// generation is stale.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Flows in progress.
    #[cfg(test)]
    fn active(&self) -> usize {
        self.flows.len()
    }

    /// Total bytes delivered so far.
    pub fn bytes_moved(&self) -> f64 {
        self.bytes_moved
    }

    /// Start a flow of `bytes` from `src` to `dst` at `now`; it cannot complete before
    /// `not_before`. Returns the new generation.
    pub fn start(
        &mut self,
        now: SimTime,
        key: K,
        src: PortId,
        dst: PortId,
        bytes: f64,
        not_before: SimTime,
    ) -> u64 {
        self.advance(now);
        self.flows.push(Flow {
            key,
            ports: [src, dst],
            remaining_bytes: bytes.max(0.0),
            rate: 0.0,
            not_before,
        });
        self.rebalance();
        self.generation
    }

    /// Move time to `now`, draining every flow at its current rate.
    fn advance(&mut self, now: SimTime) {
        let dt = now.since(self.last_update).as_secs_f64();
        if dt > 0.0 {
            for f in &mut self.flows {
                let sent = (f.rate * dt).min(f.remaining_bytes);
                f.remaining_bytes -= sent;
                self.bytes_moved += sent;
            }
        }
        self.last_update = now;
    }

    /// Whether a flow has no bytes left, to within the nanosecond rounding of its timer.
    fn drained(f: &Flow<K>) -> bool {
        f.remaining_bytes <= 0.0 || (f.rate > 0.0 && f.remaining_bytes / f.rate < 1e-9)
    }

    /// Remove and return the flows done at `now` (drained and past `not_before`), in
    /// start order; recompute rates if any finished.
    pub fn finish_due(&mut self, now: SimTime) -> Vec<K> {
        self.advance(now);
        let mut done = Vec::new();
        self.flows.retain(|f| {
            let finished = Self::drained(f) && f.not_before <= now;
            if finished {
                done.push(f.key);
            }
            !finished
        });
        if !done.is_empty() {
            for f in &mut self.flows {
                if Self::drained(f) {
                    f.remaining_bytes = 0.0;
                }
            }
            self.rebalance();
        }
        done
    }

    /// Stop the flow of `key` at `now` (bytes sent so far count as moved). Returns
    /// whether it existed.
    pub fn cancel(&mut self, now: SimTime, key: K) -> bool {
        self.advance(now);
        let before = self.flows.len();
        self.flows.retain(|f| f.key != key);
        let removed = self.flows.len() != before;
        if removed {
            self.rebalance();
        }
        removed
    }

    /// The earliest instant a flow can complete, if any flow is in progress.
    pub fn next_completion(&self) -> Option<SimTime> {
        self.flows
            .iter()
            .map(|f| {
                let drain = if f.remaining_bytes <= 0.0 || Self::drained(f) {
                    self.last_update
                } else {
                    debug_assert!(f.rate > 0.0, "a flow with bytes left must have a rate");
                    let ns = (f.remaining_bytes / f.rate * 1e9).ceil() as u64;
                    SimTime(self.last_update.as_nanos().saturating_add(ns.max(1)))
                };
                drain.max(f.not_before)
            })
            .min()
    }

    /// Max-min fair rates by progressive filling over the ports the flows cross.
    fn rebalance(&mut self) {
        self.generation += 1;
        let Scratch {
            cap,
            count,
            frozen,
            bottleneck,
            touched,
        } = &mut self.scratch;
        let ports = self.capacity.len();
        cap.resize(ports, 0.0);
        bottleneck.resize(ports, false);
        count.clear();
        count.resize(ports, 0);
        touched.clear();
        frozen.clear();
        frozen.resize(self.flows.len(), false);
        for (i, f) in self.flows.iter_mut().enumerate() {
            if f.remaining_bytes <= 0.0 {
                // Drained flows waiting for `not_before` take no bandwidth.
                f.rate = 0.0;
                frozen[i] = true;
                continue;
            }
            for p in f.ports {
                let p = p.index();
                if count[p] == 0 {
                    touched.push(p);
                    cap[p] = self.capacity[p];
                }
                count[p] += 1;
            }
        }
        loop {
            // The minimum is the same in any order (no NaN capacities).
            let mut best: Option<f64> = None;
            for &p in touched.iter() {
                let n = count[p];
                if n > 0 {
                    let share = cap[p] / f64::from(n);
                    best = Some(best.map_or(share, |b: f64| b.min(share)));
                }
            }
            let Some(share) = best else { break };
            // Freeze every unfrozen flow crossing a port whose fair share is the minimum
            // (an unfrozen flow's ports are all touched).
            for &p in touched.iter() {
                let n = count[p];
                bottleneck[p] = n > 0 && cap[p] / f64::from(n) <= share;
            }
            for (i, f) in self.flows.iter_mut().enumerate() {
                if frozen[i] || !f.ports.iter().any(|p| bottleneck[p.index()]) {
                    continue;
                }
                frozen[i] = true;
                f.rate = share;
                for p in f.ports {
                    let p = p.index();
                    cap[p] = (cap[p] - share).max(0.0);
                    count[p] -= 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GB: f64 = 1e9;

    #[test]
    fn one_flow_takes_the_slower_port() {
        let mut n = Network::new();
        let a = n.add_port(10.0 * GB);
        let b = n.add_port(5.0 * GB);
        n.start(SimTime(0), RequestId(0), a, b, 5.0 * GB, SimTime(0));
        assert_eq!(n.next_completion(), Some(SimTime(1_000_000_000)));
        assert!(n.finish_due(SimTime(999_999_999)).is_empty());
        assert_eq!(n.finish_due(SimTime(1_000_000_000)), vec![RequestId(0)]);
        assert_eq!(n.active(), 0);
    }

    #[test]
    fn two_flows_share_a_sender_fairly_and_the_survivor_speeds_up() {
        let mut n = Network::new();
        let src = n.add_port(10.0 * GB);
        let d1 = n.add_port(100.0 * GB);
        let d2 = n.add_port(100.0 * GB);
        n.start(SimTime(0), RequestId(1), src, d1, 5.0 * GB, SimTime(0));
        n.start(SimTime(0), RequestId(2), src, d2, 10.0 * GB, SimTime(0));
        // Both at 5 GB/s: flow 1 ends at 1 s; flow 2 has 5 GB left, then runs at 10 GB/s.
        assert_eq!(n.next_completion(), Some(SimTime(1_000_000_000)));
        assert_eq!(n.finish_due(SimTime(1_000_000_000)), vec![RequestId(1)]);
        assert_eq!(n.next_completion(), Some(SimTime(1_500_000_000)));
        assert_eq!(n.finish_due(SimTime(1_500_000_000)), vec![RequestId(2)]);
        assert!((n.bytes_moved() - 15.0 * GB).abs() < 1.0);
    }

    #[test]
    fn max_min_gives_unused_share_to_unconstrained_flows() {
        // Flow A: src1 -> dst (dst shared), flow B: src2 -> dst, src1 is slow.
        let mut n = Network::new();
        let src1 = n.add_port(2.0 * GB);
        let src2 = n.add_port(100.0 * GB);
        let dst = n.add_port(10.0 * GB);
        n.start(SimTime(0), RequestId(1), src1, dst, 2.0 * GB, SimTime(0));
        n.start(SimTime(0), RequestId(2), src2, dst, 8.0 * GB, SimTime(0));
        // A is limited to 2 GB/s by its sender; B gets the other 8 GB/s of dst.
        assert_eq!(n.next_completion(), Some(SimTime(1_000_000_000)));
        let done = n.finish_due(SimTime(1_000_000_000));
        assert_eq!(done, vec![RequestId(1), RequestId(2)]);
    }

    #[test]
    fn not_before_holds_a_drained_flow() {
        let mut n = Network::new();
        let a = n.add_port(10.0 * GB);
        let b = n.add_port(10.0 * GB);
        n.start(
            SimTime(0),
            RequestId(0),
            a,
            b,
            1.0 * GB,
            SimTime(500_000_000),
        );
        assert_eq!(n.next_completion(), Some(SimTime(500_000_000)));
        assert!(n.finish_due(SimTime(100_000_000)).is_empty());
        assert_eq!(n.finish_due(SimTime(500_000_000)), vec![RequestId(0)]);
    }
}
