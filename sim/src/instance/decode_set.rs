//! The decoding requests of an instance, tracked by step counters.
//!
//! Invariants: a decode step is O(1) whatever the batch size. A member's context at step
//! `k` is `context0 + (k - step0)`; `context_sum` is the sum of those over members; the
//! members needing a new KV block at step `k` are those whose phase is `k mod block`
//! (`phase_count`); a member finishes at step `step0 + remaining` (`finish`, a min-heap
//! whose entries of departed members are dropped lazily).
//! - `remaining_clipped()` is the sum over members of `min(decode steps left, clip)` (what
//!   SGLang's admission estimate counts per running request), kept in O(log n) per join,
//!   leave and step: a member is *long* while its steps left exceed `clip` (it counts
//!   `clip`; `long` is a min-heap of when each stops being long, departed members dropped
//!   lazily), else it counts `finish - step` (`due_sum` is the sum of those members'
//!   finish steps, `short` their number).

use crate::id::RequestId;
use crate::request::{DecodeSlot, Phase, Request, blocks_for};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

/// The decoding requests of an instance, tracked by step counters.
#[derive(Clone, Debug)]
pub(super) struct DecodeSet {
    /// Decode steps this instance has completed.
    pub(super) step: u64,
    members: BTreeMap<u64, RequestId>,
    finish: BinaryHeap<Reverse<(u64, u64)>>,
    phase_count: Vec<u32>,
    /// Sum over members of their current context (KV tokens).
    pub(super) context_sum: u64,
    next_admit: u64,
    block: u32,
    /// Members that are warm-up requests (their inter-token gaps are not measured).
    pub(super) warmup: u64,
    /// Steps left above which a member counts `clip` in `remaining_clipped`.
    clip: u64,
    /// Members with more than `clip` steps left, keyed by their finish step.
    long: BinaryHeap<Reverse<(u64, u64)>>,
    /// How many members are long.
    long_count: u64,
    /// Sum of the finish steps of the other (short) members.
    due_sum: u64,
    /// How many members are short.
    short_count: u64,
}

impl DecodeSet {
    /// An empty set for KV blocks of `block` tokens, whose `remaining_clipped` counts at
    /// most `clip` steps per member.
    pub(super) fn new(block: u32, clip: u64) -> DecodeSet {
        DecodeSet {
            step: 0,
            members: BTreeMap::new(),
            finish: BinaryHeap::new(),
            phase_count: vec![0; block as usize],
            context_sum: 0,
            next_admit: 0,
            block,
            warmup: 0,
            clip,
            long: BinaryHeap::new(),
            long_count: 0,
            due_sum: 0,
            short_count: 0,
        }
    }

    /// Requests decoding.
    pub(super) fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether none is decoding.
    pub(super) fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    fn phase(&self, step0: u64, context0: u64) -> usize {
        let b = u64::from(self.block);
        ((step0 % b + b - context0 % b) % b) as usize
    }

    /// Add a request whose prompt (and any earlier output) is in KV; it decodes
    /// `req.decode_steps_left()` more tokens.
    pub(super) fn join(&mut self, id: RequestId, req: &mut Request) {
        let context0 = req.context_after_prefill();
        let remaining = req.decode_steps_left();
        debug_assert!(remaining > 0);
        let admit_seq = self.next_admit;
        self.next_admit += 1;
        req.slot = DecodeSlot {
            admit_seq,
            step0: self.step,
            context0,
            remaining,
        };
        req.phase = Phase::Decoding;
        self.members.insert(admit_seq, id);
        let finish = self.step + remaining;
        self.finish.push(Reverse((finish, admit_seq)));
        if remaining > self.clip {
            self.long.push(Reverse((finish, admit_seq)));
            self.long_count += 1;
        } else {
            self.due_sum += finish;
            self.short_count += 1;
        }
        let p = self.phase(self.step, context0);
        self.phase_count[p] += 1;
        self.context_sum += context0;
        self.warmup += u64::from(req.warmup);
    }

    /// Whether request `id` (described by `req`) is a member.
    pub(super) fn contains(&self, id: RequestId, req: &Request) -> bool {
        self.members.get(&req.slot.admit_seq) == Some(&id)
    }

    /// Remove a member; returns the blocks its context spans (shared prefix included).
    pub(super) fn leave(&mut self, req: &Request) -> u64 {
        let s = req.slot;
        let removed = self.members.remove(&s.admit_seq);
        debug_assert!(removed.is_some(), "leaving request is not a member");
        let p = self.phase(s.step0, s.context0);
        self.phase_count[p] -= 1;
        let context = s.context0 + (self.step - s.step0);
        self.context_sum -= context;
        self.warmup -= u64::from(req.warmup);
        let finish = s.step0 + s.remaining;
        if finish - self.step > self.clip {
            // Its entry in `long` goes stale.
            self.long_count -= 1;
        } else {
            self.due_sum -= finish;
            self.short_count -= 1;
        }
        blocks_for(context, self.block)
    }

    /// Sum over members of `min(decode steps left, clip)`.
    pub(super) fn remaining_clipped(&self) -> u64 {
        self.due_sum - self.short_count * self.step + self.long_count * self.clip
    }

    /// The members, in admission order.
    pub(super) fn members(&self) -> impl Iterator<Item = RequestId> + '_ {
        self.members.values().copied()
    }

    /// Blocks the next step needs for KV growth.
    pub(super) fn growth_next_step(&self) -> u64 {
        u64::from(self.phase_count[(self.step % u64::from(self.block)) as usize])
    }

    /// The newest member.
    pub(super) fn newest(&self) -> Option<RequestId> {
        self.members.last_key_value().map(|(_, &id)| id)
    }

    /// Complete one decode step: every member appends one token.
    pub(super) fn advance(&mut self) {
        self.step += 1;
        self.context_sum += self.members.len() as u64;
        // Long members whose steps left fell to `clip` become short.
        while let Some(&Reverse((finish, seq))) = self.long.peek() {
            if finish - self.step > self.clip {
                break;
            }
            self.long.pop();
            if self.members.contains_key(&seq) {
                self.long_count -= 1;
                self.due_sum += finish;
                self.short_count += 1;
            }
        }
    }

    /// Pop a member whose last decode step has completed.
    pub(super) fn pop_finished(&mut self) -> Option<RequestId> {
        while let Some(&Reverse((at, seq))) = self.finish.peek() {
            if at > self.step {
                return None;
            }
            self.finish.pop();
            if let Some(&id) = self.members.get(&seq) {
                return Some(id);
            }
            // Stale: the member was preempted; its entry is dropped lazily.
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::SimTime;

    #[test]
    fn decode_set_block_growth_follows_phases() {
        // Block of 4 tokens; a request joining with 4 tokens of context needs a block at
        // its first step (context 4 -> 5), then every 4 steps.
        let mut d = DecodeSet::new(4, 4096);
        let mut r = Request::new(0, SimTime::ZERO, 4, 20, None);
        r.prefilled = 4;
        r.generated = 1;
        d.join(RequestId(0), &mut r);
        let mut needs = Vec::new();
        for _ in 0..9 {
            needs.push(d.growth_next_step());
            d.advance();
        }
        assert_eq!(needs, vec![1, 0, 0, 0, 1, 0, 0, 0, 1]);
        assert_eq!(d.context_sum, 4 + 9);
        // After 9 steps the context is 13 tokens: 4 blocks.
        assert_eq!(d.leave(&r), 4);
        assert_eq!(d.context_sum, 0);
    }

    #[test]
    fn decode_set_finishes_in_step_order_and_skips_departed() {
        let mut d = DecodeSet::new(16, 4096);
        let mut a = Request::new(0, SimTime::ZERO, 10, 3, None);
        a.generated = 1;
        let mut b = Request::new(1, SimTime::ZERO, 10, 2, None);
        b.generated = 1;
        let mut c = Request::new(2, SimTime::ZERO, 10, 2, None);
        c.generated = 1;
        d.join(RequestId(0), &mut a);
        d.join(RequestId(1), &mut b);
        d.join(RequestId(2), &mut c);
        d.leave(&c);
        d.advance();
        assert_eq!(d.pop_finished(), Some(RequestId(1)));
        d.leave(&b);
        assert_eq!(d.pop_finished(), None);
        d.advance();
        assert_eq!(d.pop_finished(), Some(RequestId(0)));
    }

    #[test]
    fn remaining_clipped_counts_at_most_clip_steps_per_member() {
        // Clip 5: a member with 12 steps left counts 5 until it has 5 left, then 5, 4, ...
        let mut d = DecodeSet::new(16, 5);
        let mut a = Request::new(0, SimTime::ZERO, 10, 13, None);
        a.generated = 1; // 12 steps left
        let mut b = Request::new(1, SimTime::ZERO, 10, 4, None);
        b.generated = 1; // 3 steps left
        let mut c = Request::new(2, SimTime::ZERO, 10, 30, None);
        c.generated = 1; // 29 steps left
        d.join(RequestId(0), &mut a);
        d.join(RequestId(1), &mut b);
        d.join(RequestId(2), &mut c);
        let brute = |d: &DecodeSet, left: &[u64]| -> u64 {
            left.iter()
                .map(|&f| (f.saturating_sub(d.step)).min(5))
                .sum()
        };
        assert_eq!(d.remaining_clipped(), 5 + 3 + 5);
        // c leaves while long; a and b keep counting down.
        d.leave(&c);
        for _ in 0..12 {
            let members: Vec<u64> = [12u64, 3]
                .iter()
                .copied()
                .filter(|&f| f > d.step)
                .collect();
            assert_eq!(d.remaining_clipped(), brute(&d, &members));
            d.advance();
            while let Some(id) = d.pop_finished() {
                let r = if id == RequestId(0) { &a } else { &b };
                d.leave(r);
            }
        }
        assert_eq!(d.remaining_clipped(), 0);
        assert!(d.is_empty());
    }
}
