//! Multi-turn conversations of open-loop synthetic workloads.
//!
//! Invariants: the arrival process starts conversations; turn `k + 1` arrives an
//! exponential gap after turn `k` (open loop: whether turn `k` has finished is not
//! checked, as in trace replay) and its prompt is turn `k`'s prompt and answer plus a new
//! user message, so its `block_hashes` start with the full blocks of turn `k`'s prompt.
//! Requests leave in arrival order (ties: new conversations first, then by creation);
//! memory is bounded by the conversations in flight, not by `requests`. Turn counts and
//! gaps come from the `Think` stream (closed loops, its other user, are excluded).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rand_distr::{Distribution, Exp, Geometric};

use super::RequestSpec;
use super::error::WorkloadError;
use super::file::SessionsFile;
use super::prefix::BlockIds;
use crate::limits::{MAX_BLOCK_TOKENS, MAX_SECS, MAX_TOKENS};
use crate::rng::SimRng;
use crate::time::{SimDuration, SimTime};

/// Default tokens per hash block.
const DEFAULT_BLOCK_TOKENS: u32 = 512;
/// Largest mean number of turns of a conversation.
const MAX_TURNS_MEAN: f64 = 1e6;

/// A validated `[workload.sessions]`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SessionSpec {
    /// Mean turns per conversation (>= 1).
    pub(crate) turns_mean: f64,
    /// Mean gap between turns, seconds (>= 0).
    turn_gap_s: f64,
    /// Longest prompt a conversation may send, tokens.
    max_input_tokens: Option<u32>,
    /// Tokens per hash block, when set here.
    pub(crate) block_tokens: Option<u32>,
}

/// `Err(Invalid)` at `workload.sessions.<key>` unless `ok`.
fn check(ok: bool, key: &str, message: String) -> Result<(), WorkloadError> {
    if ok {
        Ok(())
    } else {
        Err(WorkloadError::invalid(
            format!("workload.sessions.{key}"),
            message,
        ))
    }
}

impl SessionSpec {
    /// Validates `[workload.sessions]`.
    pub(crate) fn from_file(f: &SessionsFile) -> Result<SessionSpec, WorkloadError> {
        let SessionsFile {
            turns_mean,
            turn_gap_s,
            max_input_tokens,
            block_tokens,
        } = *f;
        check(
            turns_mean.is_finite() && (1.0..=MAX_TURNS_MEAN).contains(&turns_mean),
            "turns-mean",
            format!("{turns_mean} must be in [1, {MAX_TURNS_MEAN}]"),
        )?;
        check(
            turn_gap_s.is_finite() && (0.0..=MAX_SECS).contains(&turn_gap_s),
            "turn-gap-s",
            format!("{turn_gap_s} must be in [0, {MAX_SECS}] s"),
        )?;
        if let Some(m) = max_input_tokens {
            check(
                (1..=MAX_TOKENS).contains(&m),
                "max-input-tokens",
                format!("{m} must be in [1, {MAX_TOKENS}] tokens"),
            )?;
        }
        if let Some(b) = block_tokens {
            check(
                (1..=MAX_BLOCK_TOKENS).contains(&b),
                "block-tokens",
                format!("{b} must be in [1, {MAX_BLOCK_TOKENS}] tokens"),
            )?;
        }
        Ok(SessionSpec {
            turns_mean,
            turn_gap_s,
            max_input_tokens,
            block_tokens,
        })
    }

    /// Tokens per hash block when no `[workload.prefix]` sets it.
    pub(crate) fn block_tokens_or_default(&self) -> u32 {
        self.block_tokens.unwrap_or(DEFAULT_BLOCK_TOKENS)
    }

    /// One line for summaries.
    pub(crate) fn describe(&self) -> String {
        let cap = match self.max_input_tokens {
            Some(m) => format!(", prompts <= {m} tok"),
            None => String::new(),
        };
        format!(
            "sessions of {} turns on average, {} s apart{cap}",
            self.turns_mean, self.turn_gap_s
        )
    }
}

/// The next turn of a conversation, waiting for its arrival time.
#[derive(Clone, Debug)]
pub(crate) struct PendingTurn {
    /// When it arrives.
    at: SimTime,
    /// Creation order (tie-break).
    seq: u64,
    /// Hashes of the previous turn's prompt.
    hashes: Vec<u64>,
    /// Previous prompt, tokens.
    input: u32,
    /// Previous answer, tokens.
    output: u32,
    /// Turns still to come, this one included (>= 1).
    turns_left: u64,
    /// The conversation.
    session: u64,
}

impl PartialEq for PendingTurn {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for PendingTurn {}

impl PartialOrd for PendingTurn {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PendingTurn {
    /// Reversed `(at, seq)`: the max-heap pops the earliest turn.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// The conversations in flight.
#[derive(Clone, Debug)]
pub(crate) struct SessionGen {
    /// The configuration.
    spec: SessionSpec,
    /// Tokens per hash block.
    block_tokens: u32,
    /// Extra turns after the first (geometric).
    extra_turns: Geometric,
    /// Gaps between turns, seconds; `None` when the mean is 0.
    gap: Option<Exp<f64>>,
    /// The think stream.
    rng: SimRng,
    /// The next conversation's start, once drawn.
    pub(crate) next_start: Option<SimTime>,
    /// Turns waiting for their arrival.
    pending: BinaryHeap<PendingTurn>,
    /// Turns created so far.
    seq: u64,
    /// Conversations started so far (ids are 1-based).
    conversations: u64,
}

impl SessionGen {
    /// The generator of `spec` with hash blocks of `block_tokens`, drawing from `rng`.
    pub(crate) fn new(
        spec: &SessionSpec,
        block_tokens: u32,
        rng: SimRng,
    ) -> Result<SessionGen, WorkloadError> {
        let bad = |e: String| WorkloadError::invalid("workload.sessions", e);
        let extra_turns = Geometric::new(1.0 / spec.turns_mean).map_err(|e| bad(e.to_string()))?;
        let gap = if spec.turn_gap_s > 0.0 {
            Some(Exp::new(1.0 / spec.turn_gap_s).map_err(|e| bad(e.to_string()))?)
        } else {
            None
        };
        Ok(SessionGen {
            spec: spec.clone(),
            block_tokens,
            extra_turns,
            gap,
            rng,
            next_start: None,
            pending: BinaryHeap::new(),
            seq: 0,
            conversations: 0,
        })
    }

    /// Whether a new conversation starting at `start` comes before every pending turn.
    pub(crate) fn start_is_next(&self, start: SimTime) -> bool {
        self.pending.peek().is_none_or(|p| start <= p.at)
    }

    /// The earliest pending turn.
    pub(crate) fn pop(&mut self) -> Option<PendingTurn> {
        self.pending.pop()
    }

    /// Schedules the turn after `r` when `turns_left` (after `r`) is >= 1.
    fn schedule_after(&mut self, r: &RequestSpec, turns_left: u64) {
        if turns_left == 0 {
            return;
        }
        let gap_s = self.gap.map_or(0.0, |g| g.sample(&mut self.rng));
        let gap = if gap_s * 1e9 >= u64::MAX as f64 {
            SimDuration(u64::MAX)
        } else {
            SimDuration::from_secs_f64(gap_s)
        };
        self.seq += 1;
        self.pending.push(PendingTurn {
            at: SimTime(r.arrival.as_nanos().saturating_add(gap.as_nanos())),
            seq: self.seq,
            hashes: r.block_hashes.clone(),
            input: r.input_tokens,
            output: r.output_tokens,
            turns_left,
            session: r
                .session
                .expect("session turns carry their conversation id"),
        });
    }

    /// Records the first turn `r` of a new conversation and draws how many follow.
    pub(crate) fn begin(&mut self, r: &mut RequestSpec) {
        self.conversations += 1;
        r.session = Some(self.conversations);
        let extra = self.extra_turns.sample(&mut self.rng);
        self.schedule_after(r, extra);
    }

    /// The turn `p` with a new user message of `user` tokens and an answer of `output`
    /// tokens; `None` when the prompt would exceed `max-input-tokens`, or 2^24 tokens
    /// ([`crate::limits::MAX_TOKENS`]) without one (the conversation ends).
    pub(crate) fn continue_turn(
        &mut self,
        p: PendingTurn,
        user: u32,
        output: u32,
        ids: &mut BlockIds,
    ) -> Option<RequestSpec> {
        let input = p.input.saturating_add(p.output).saturating_add(user);
        // Without a cap a conversation still ends at the token limit: its history (and
        // hash chain) would otherwise grow with every turn.
        let cap = self
            .spec
            .max_input_tokens
            .unwrap_or(crate::limits::MAX_TOKENS);
        if input > cap {
            return None;
        }
        let b = self.block_tokens;
        let mut hashes = p.hashes;
        hashes.truncate((p.input / b) as usize);
        ids.cover(&mut hashes, input, b);
        let r = RequestSpec {
            arrival: p.at,
            input_tokens: input,
            output_tokens: output,
            block_hashes: hashes,
            hash_block_tokens: b,
            session: Some(p.session),
        };
        self.schedule_after(&r, p.turns_left - 1);
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_sessions_name_the_field() {
        let e = |turns_mean, turn_gap_s, max_input_tokens, block_tokens| {
            SessionSpec::from_file(&SessionsFile {
                turns_mean,
                turn_gap_s,
                max_input_tokens,
                block_tokens,
            })
            .err()
            .map(|e| e.field().to_owned())
            .unwrap_or_default()
        };
        assert_eq!(e(0.5, 1.0, None, None), "workload.sessions.turns-mean");
        assert_eq!(e(2.0, -1.0, None, None), "workload.sessions.turn-gap-s");
        assert_eq!(
            e(2.0, 1.0, Some(0), None),
            "workload.sessions.max-input-tokens"
        );
        assert_eq!(e(2.0, 1.0, None, Some(0)), "workload.sessions.block-tokens");
        assert_eq!(e(1.0, 0.0, Some(10), Some(16)), "");
    }
}
