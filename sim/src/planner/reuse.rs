//! Probes shared between candidates that differ only in `max-num-seqs`.
//!
//! The search space crosses every unit with every max-sequences value (128 and 1024 by
//! default), and a unit's batch rarely reaches the smaller limit under its SLOs: then the
//! two candidates simulate the very same runs. The engine says whether the limit ever
//! held a request back (`RunOutput::seq_limit_hit`: a request waited for a running slot
//! while the batch was full); a run under limit `S` where it never did is, event for
//! event, the run under any limit `L > S` (every slot check `running < S` succeeded, so
//! `running < L` succeeds in the same states, and `max-num-seqs` enters the engine
//! nowhere else once the scenario is built).
//!
//! # Invariants
//!
//! - Exact: a candidate's search, probabilities and outputs are what simulating it gives.
//!   Candidates are grouped only when their scenarios are the same but for the limit: the
//!   same unit, GPU, token budget and router ([`class_key`]), the same KV capacity per
//!   role (a sliding-window model reserves a window per running sequence), the same top
//!   of the rate search (so the same probe rates) and the same probe workload.
//! - A class is searched in increasing order of its limits; a probe is taken from the
//!   memo when it ran at the same seed and rate under a smaller limit that never held a
//!   request back, or under the same limit. Results do not depend on the order in which
//!   classes run, so plans stay the same at any `--jobs` and across shards (a shard
//!   groups only its own candidates).

use super::PlanError;
use super::candidates::{Candidate, Knobs};
use super::search::{ProbeMetrics, ProbeWorkload, Probed};
use crate::scenario::{Scenario, Topology};
use std::collections::BTreeMap;

/// What a candidate's class is keyed by: the candidate with its index and its
/// max-sequences limit blanked.
fn class_key(c: &Candidate) -> String {
    let blank = Candidate {
        index: 0,
        knobs: Knobs {
            max_num_seqs: 0,
            ..c.knobs
        },
        ..c.clone()
    };
    format!("{blank:?}")
}

/// KV capacity of each role of `sc`, tokens.
fn kv_capacities(sc: &Scenario) -> Vec<u64> {
    match &sc.topology {
        Topology::Aggregated(r) => vec![r.memory.kv_capacity_tokens],
        Topology::Disaggregated { prefill, decode } => vec![
            prefill.memory.kv_capacity_tokens,
            decode.memory.kv_capacity_tokens,
        ],
    }
}

/// Partition positions `0..cands.len()` into classes of candidates whose runs may be
/// shared (see the module invariants), each in increasing order of its limit (then
/// position); classes in order of their first position. `built[k]` is candidate `k`'s
/// scenario, capacity bound and probe workload, `top(k)` the rate its search starts
/// below.
pub fn seq_classes(
    cands: &[&Candidate],
    built: &[&(Scenario, f64, ProbeWorkload)],
    top: &dyn Fn(usize) -> f64,
) -> Vec<Vec<usize>> {
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (k, c) in cands.iter().enumerate() {
        groups.entry(class_key(c)).or_default().push(k);
    }
    let same = |a: usize, b: usize| {
        let ((sa, _, pa), (sb, _, pb)) = (built[a], built[b]);
        top(a).to_bits() == top(b).to_bits() && pa == pb && kv_capacities(sa) == kv_capacities(sb)
    };
    let mut out: Vec<Vec<usize>> = Vec::new();
    for (_, mut members) in groups {
        members.sort_by_key(|&k| (cands[k].knobs.max_num_seqs, k));
        let mut classes: Vec<Vec<usize>> = Vec::new();
        for k in members {
            match classes.iter_mut().find(|cl| same(cl[0], k)) {
                Some(cl) => cl.push(k),
                None => classes.push(vec![k]),
            }
        }
        out.extend(classes);
    }
    out.sort_by_key(|cl| cl.iter().copied().min().unwrap_or(0));
    out
}

/// One probe kept for the other members of a class.
#[derive(Clone, Debug)]
struct Entry {
    seed: u64,
    rate_bits: u64,
    limit: u32,
    probed: Probed,
}

/// The probes of one class, as its members run them (in increasing order of limit).
#[derive(Clone, Debug, Default)]
pub struct ProbeMemo {
    entries: Vec<Entry>,
    /// Simulations run.
    pub simulated: u32,
    /// Probes taken from the memo.
    pub reused: u32,
}

impl ProbeMemo {
    /// The probe at `seed` and `rate_rps` of the member whose limit is `limit`: from the
    /// memo when a run there is the same run (see the module invariants), else `run`'s.
    pub fn probe(
        &mut self,
        seed: u64,
        limit: u32,
        rate_rps: f64,
        run: impl FnOnce() -> Result<Probed, PlanError>,
    ) -> Result<ProbeMetrics, PlanError> {
        let rate_bits = rate_rps.to_bits();
        let hit = self.entries.iter().find(|e| {
            e.seed == seed
                && e.rate_bits == rate_bits
                && (e.limit == limit || (e.limit < limit && !e.probed.seq_limit_hit))
        });
        if let Some(e) = hit {
            self.reused += 1;
            return Ok(e.probed.metrics.clone());
        }
        let probed = run()?;
        self.simulated += 1;
        let m = probed.metrics.clone();
        self.entries
            .retain(|e| !(e.seed == seed && e.rate_bits == rate_bits));
        self.entries.push(Entry {
            seed,
            rate_bits,
            limit,
            probed,
        });
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probed(rate: f64, hit: bool) -> Probed {
        Probed {
            metrics: crate::planner::search::tests::synthetic(rate, true),
            seq_limit_hit: hit,
        }
    }

    #[test]
    fn a_run_is_reused_only_where_it_is_the_same_run() {
        let mut m = ProbeMemo::default();
        m.probe(1, 128, 2.0, || Ok(probed(2.0, false))).unwrap();
        m.probe(1, 128, 3.0, || Ok(probed(3.0, true))).unwrap();
        assert_eq!(m.simulated, 2);
        // A larger limit: the run at 2.0 never met the limit, the run at 3.0 did.
        m.probe(1, 1024, 2.0, || panic!("reused")).unwrap();
        let mut ran = false;
        m.probe(1, 1024, 3.0, || {
            ran = true;
            Ok(probed(3.0, false))
        })
        .unwrap();
        assert!(ran);
        // Another seed or rate is another run.
        let mut ran = 0;
        m.probe(2, 1024, 2.0, || {
            ran += 1;
            Ok(probed(2.0, false))
        })
        .unwrap();
        m.probe(1, 1024, 2.5, || {
            ran += 1;
            Ok(probed(2.5, false))
        })
        .unwrap();
        assert_eq!(ran, 2);
        // The same limit is the same scenario.
        m.probe(1, 1024, 3.0, || panic!("reused")).unwrap();
        assert_eq!((m.simulated, m.reused), (5, 2));
    }
}
