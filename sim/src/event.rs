//! The event queue: a min-heap of events ordered by `(time, seq)`.
//!
//! Invariants: the queue owns the sequence number, so events scheduled for the same
//! instant pop in the order they were scheduled (FIFO). The one other tie-breaker is an
//! explicit phase in the key, `(at, phase, seq)`: an event pushed with
//! [`EventQueue::push_late`] (a client's timeout) pops after every normal event of its
//! instant, even those scheduled later at that instant, so a request that finishes
//! exactly at its timeout completes. No priorities hidden in the event payload, no
//! floats in the key. Events are cancelled lazily by the handlers (generation checks),
//! never removed from the heap.

use crate::id::{InstanceId, RequestId};
use crate::time::SimTime;
use std::cmp::Ordering;
use std::collections::BinaryHeap;


/// Something that happens at an instant. Plain data; handlers live in the engine.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The next open-loop request arrives (pulled from the workload generator).
    Arrival,
    /// A closed-loop client issues its next request.
    ClientIssue(u32),
    /// A KV transfer's connector setup is done; its bytes start to flow.
    TransferStart(RequestId),
    /// A request's bootstrap handshake with its prefill instance is done (SGLang flow).
    Bootstrapped(RequestId),
    /// An instance should look for work (coalesces same-instant wake-ups).
    TryStep(InstanceId),
    /// An instance finished its current step.
    StepDone(InstanceId),
    /// The earliest KV-transfer flow may have finished; stale unless `generation` is current.
    TransferTimer {
        /// Generation of the network's flow set when this timer was set.
        generation: u64,
    },
    /// Sample the per-instance time series.
    Sample,
    /// Autoscaler `k` syncs.
    Autoscale(u8),
    /// A starting replica's scheduling and image pull are done (stale unless the epoch
    /// matches): its weights start loading.
    ColdStartLoad(InstanceId, u32),
    /// The earliest weight load may have finished; stale unless `generation` is current.
    StorageTimer {
        /// Generation of the storage network's flow set when this timer was set.
        generation: u64,
    },
    /// A starting replica finished warming up (stale unless the epoch matches).
    InstanceReady(InstanceId, u32),
    /// A request's client gives up on it (`timeout-s` after its arrival); stale unless
    /// the slot still holds the request of this serial, unfinished.
    Timeout(RequestId, u64),
    /// A failure (`[failures]`).
    Failure(FailureSource),
    /// A failure's notice: the instances it will take down start draining.
    Notice(FailureSource),
}

/// Where a failure comes from.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FailureSource {
    /// Failure process `k`: with `[failures]`, instance `k`'s GPUs below the instance
    /// count, else node `k - instances`; then the spot instances' reclaims.
    Process(u32),
    /// Entry `j` of `[[failures.events]]` (in time order).
    Trace(u32),
    /// Entry `j` of `[[spot.events]]` (in time order): a spot reclaim.
    Spot(u32),
}

/// The phase bit of [`EventQueue::push_late`] events: set in the low word of the key, so
/// they sort after every normal event of their instant.
const LATE: u64 = 1 << 63;

/// A pending event. `key` is `(at << 64) | phase << 63 | seq`: one integer compare
/// orders by time, then phase (late events last), then sequence number, exactly as the
/// `(at, phase, seq)` tuple does.
#[derive(Debug)]
struct Scheduled {
    key: u128,
    ev: Event,
}

impl Scheduled {
    fn at(&self) -> SimTime {
        SimTime((self.key >> 64) as u64)
    }

    fn seq(&self) -> u64 {
        self.key as u64 & !LATE
    }
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    // Reversed: BinaryHeap is a max-heap and we want the earliest (at, seq) first.
    fn cmp(&self, other: &Self) -> Ordering {
        other.key.cmp(&self.key)
    }
}

/// Pending events, earliest first; equal times pop in scheduling order.
#[derive(Debug, Default)]
pub struct EventQueue {
    heap: BinaryHeap<Scheduled>,
    next_seq: u64,
}

impl EventQueue {
    /// An empty queue.
    pub fn new() -> EventQueue {
        EventQueue::default()
    }

    /// Schedule `ev` at `at`.
    pub fn push(&mut self, at: SimTime, ev: Event) {
        self.push_phase(at, 0, ev);
    }

    /// Schedule `ev` at `at`, after every normal event of that instant (whenever those
    /// are scheduled); late events of one instant pop FIFO among themselves.
    pub fn push_late(&mut self, at: SimTime, ev: Event) {
        self.push_phase(at, LATE, ev);
    }

    fn push_phase(&mut self, at: SimTime, phase: u64, ev: Event) {
        let seq = self.next_seq;
        self.next_seq += 1;
        debug_assert!(seq < LATE, "sequence numbers stay below the phase bit");
        let key = (u128::from(at.0) << 64) | u128::from(phase | seq);
        self.heap.push(Scheduled { key, ev });
    }

    /// Remove and return the earliest event with its time and sequence number.
    pub fn pop(&mut self) -> Option<(SimTime, u64, Event)> {
        self.heap.pop().map(|s| (s.at(), s.seq(), s.ev))
    }

}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn same_time_pops_fifo() {
        let mut q = EventQueue::new();
        q.push(SimTime(5), Event::TryStep(InstanceId(2)));
        q.push(SimTime(5), Event::TryStep(InstanceId(1)));
        q.push(SimTime(3), Event::Sample);
        q.push(SimTime(5), Event::Arrival);
        let order: Vec<Event> = std::iter::from_fn(|| q.pop().map(|(_, _, e)| e)).collect();
        assert_eq!(
            order,
            vec![
                Event::Sample,
                Event::TryStep(InstanceId(2)),
                Event::TryStep(InstanceId(1)),
                Event::Arrival
            ]
        );
    }

    #[test]
    fn late_events_pop_after_every_event_of_their_instant() {
        let mut q = EventQueue::new();
        q.push_late(SimTime(5), Event::Timeout(RequestId(0), 0));
        q.push(SimTime(5), Event::Sample);
        q.push(SimTime(4), Event::Arrival);
        // Popping the instant-4 event, then scheduling more at 5: still before the late one.
        assert_eq!(q.pop().map(|e| e.2), Some(Event::Arrival));
        q.push(SimTime(5), Event::TryStep(InstanceId(1)));
        q.push_late(SimTime(5), Event::Timeout(RequestId(1), 1));
        q.push(SimTime(6), Event::Sample);
        let order: Vec<(u64, Event)> =
            std::iter::from_fn(|| q.pop().map(|(at, _, e)| (at.0, e))).collect();
        assert_eq!(
            order,
            vec![
                (5, Event::Sample),
                (5, Event::TryStep(InstanceId(1))),
                (5, Event::Timeout(RequestId(0), 0)),
                (5, Event::Timeout(RequestId(1), 1)),
                (6, Event::Sample),
            ]
        );
    }

    proptest! {
        #[test]
        fn pops_in_non_decreasing_time_then_seq(times in proptest::collection::vec(0u64..50, 1..200)) {
            let mut q = EventQueue::new();
            for &t in &times {
                q.push(SimTime(t), Event::Sample);
            }
            let mut last = (SimTime(0), 0u64);
            let mut n = 0;
            while let Some((at, seq, _)) = q.pop() {
                prop_assert!((at, seq) >= last);
                last = (at, seq);
                n += 1;
            }
            prop_assert_eq!(n, times.len());
        }
    }
}
