//! The role screen: an estimate of a large unit's capacity from its roles' measured
//! per-instance capacities, used in place of the roofline bound to prune it.
//!
//! The roofline bound ([`super::bounds`]) is optimistic by a factor that does not shrink
//! with the unit's size, so pruning by it keeps units of every size, and every replica
//! split X:Y of them: the search cost grows with the cube of `--gpus-max`. A unit of `X`
//! prefill and `Y` decode instances serves about `min(X r_p, Y r_d)`, where `r_p` and
//! `r_d` are what one instance of each role sustains under the SLOs; that is what the
//! screen measures, once per role configuration and size, instead of once per split.
//!
//! - A *role probe* is the rate search ([`super::search`]) of a small unit: `n` instances
//!   of the role measured, for `n` in [`SIZES`] up to the first size at least the unit's
//!   count of that role (behind the unit's router; one instance alone), and enough of the
//!   other role (the same GPU and shape, [`AMPLE`] times what the roofline ratio asks, at
//!   most [`MAX_AMPLE`] per instance measured) that it is not the bottleneck; for an
//!   aggregated role, the `n` instances alone. One per (GPU, role, TP and split, token
//!   budget, max sequences, `n`, router), shared by every unit that has that role.
//! - A role's instances pool: under a TTFT percentile one prefill instance stalls behind
//!   each long prompt, many share them out (on H20 one TP 1 prefill instance sustains 0.19
//!   req/s alone, 12 of them 4.2 req/s). So the per-instance capacity is interpolated
//!   between the measured sizes as a power of the count and extrapolated past the last
//!   with the last segment's power ([`pooled`]).
//! - The estimate of a unit above `--screen-above-gpus` GPUs is `(1 + SCREEN_MARGIN) x
//!   min(prefill, decode)` (aggregated: its one role), capped by its roofline bound; a
//!   role whose probes screen nothing leaves the other to bound it. It replaces the bound
//!   when the plan prunes (the ordering and [`super::result::assemble`]'s rule are
//!   otherwise the same), and a unit that is simulated is searched up to it, as up to
//!   the bound: its rate is at most its estimate, so pruning by the estimate cannot
//!   remove the unit with the best measured score and the plan does not depend on the
//!   order of evaluation (shards, `--jobs`). Where the estimate is above what the unit
//!   sustains (every unit measured so far: docs/performance.md), its numbers are those
//!   of the exhaustive search; a unit that would sustain more is reported at its
//!   estimate.
//!
//! # Invariants
//!
//! - The estimate is an approximation, not a bound: a unit that does better than
//!   `1 + SCREEN_MARGIN` times it could be pruned although it would have scored best.
//!   The margin is measured against the exhaustive search in docs/performance.md (round
//!   6). A role probe that cannot be built, finds no feasible rate, or needs more than
//!   [`MAX_AMPLE`] instances of the other role per instance measured gives nothing: the
//!   role is estimated from the sizes before it, and a role with none leaves the unit to
//!   its other role (both: to its roofline bound).
//! - Deterministic: role probes depend on their configuration only (not on which
//!   candidates asked for them, nor on the order), so shards compute the same estimates.
//! - Units of at most `--screen-above-gpus` GPUs (every unit of the default search: a
//!   node) and plans with `--no-prune` are not screened.

use super::candidates::{Candidate, Knobs, RoleShape};
use super::reuse::{ProbeMemo, seq_classes};
use super::search::{ProbeWorkload, SPAN, max_rate_with, probe_flagged};
use super::{EvalContext, PlanError, bounds::role_rates, probe_setup};
use crate::role::Role;
use crate::scenario::{Mode, RouterKind, Scenario};
use rayon::prelude::*;
use std::collections::BTreeMap;

/// Default `--screen-above-gpus`: units of more GPUs than a node of eight are screened.
pub const SCREEN_ABOVE_GPUS: u32 = 8;

/// How much better than `min(X r_p, Y r_d)` a unit is assumed to do at most (pooling
/// over more instances, a router's balance).
pub const SCREEN_MARGIN: f64 = 0.25;

/// Instances of the other role in a role probe, per instance its roofline rate asks for.
pub const AMPLE: f64 = 2.0;

/// Instances of a role measured together to see how it pools.
pub const SIZES: [u32; 3] = [1, 4, 12];

/// Most instances of the other role in a role probe, per instance measured.
pub const MAX_AMPLE: u32 = 3;

/// A probe's scenario, capacity bound and workload ([`probe_setup`]).
type Built = (Scenario, f64, ProbeWorkload);

/// One role configuration whose per-instance capacity is measured.
#[derive(Clone, Debug, PartialEq)]
struct RoleKey {
    gpu: String,
    role: Role,
    shape: RoleShape,
    knobs: Knobs,
    /// Instances of the role measured together: one of [`SIZES`].
    n: u32,
    /// The router spreading requests over them (round-robin for one instance).
    router: RouterKind,
}

/// The role probes of `c`: per role, one instance alone, and [`SIZES`] instances
/// behind its router up to the first size at least its count.
fn keys_of(c: &Candidate) -> Vec<RoleKey> {
    let roles = match c.mode {
        Mode::Aggregated => vec![(Role::Aggregated, c.prefill)],
        Mode::Disaggregated => vec![(Role::Prefill, c.prefill), (Role::Decode, c.decode)],
    };
    let mut out = Vec::new();
    for (role, shape) in roles {
        for &n in &SIZES {
            out.push(RoleKey {
                gpu: c.gpu_of(role).to_owned(),
                role,
                shape: RoleShape {
                    replicas: 1,
                    ..shape
                },
                knobs: c.knobs,
                n,
                router: if n == 1 {
                    RouterKind::RoundRobin
                } else {
                    c.router
                },
            });
            if n >= shape.replicas {
                break;
            }
        }
    }
    out
}

/// What `n` instances of a role sustain, requests/s, from the per-instance capacities
/// `caps[k]` measured at `SIZES[k]` instances (as many as were measured, at least one):
/// per-instance capacity interpolated as a power of the instances between two measured
/// sizes, extrapolated with the last segment's power, never decreasing with `n` (a size
/// that pooled worse is read as flat, which overstates it).
pub fn pooled(n: u32, caps: &[f64]) -> f64 {
    let x = f64::from(n.max(1));
    let mut c = caps[0];
    for k in 1..caps.len() {
        let (n0, n1) = (f64::from(SIZES[k - 1]), f64::from(SIZES[k]));
        let g = ((caps[k] / caps[k - 1]).ln() / (n1 / n0).ln()).max(0.0);
        let last = k + 1 == caps.len();
        if x <= n1 || last {
            c *= (x.max(n0) / n0).powf(g);
            break;
        }
        c *= (n1 / n0).powf(g);
    }
    x * c
}

/// The unit a role probe simulates (`None`: no useful one: see the module invariants).
fn probe_unit(ctx: &EvalContext, k: &RoleKey) -> Option<Candidate> {
    let one = RoleShape {
        replicas: 1,
        ..k.shape
    };
    let measured = RoleShape {
        replicas: k.n,
        ..k.shape
    };
    let unit = |mode: Mode, prefill: RoleShape, decode: RoleShape| Candidate {
        index: 0,
        gpu: k.gpu.clone(),
        decode_gpu: None,
        mode,
        prefill,
        decode,
        knobs: k.knobs,
        router: k.router,
    };
    if k.role == Role::Aggregated {
        return Some(unit(Mode::Aggregated, measured, measured));
    }
    let pair = unit(Mode::Disaggregated, one, one);
    let (sc, _, _) = probe_setup(ctx, &pair).ok()?;
    let (p, d) = role_rates(&sc, &ctx.length_stats());
    let ratio = match k.role {
        Role::Prefill => p / d,
        _ => d / p,
    };
    let n = (AMPLE * ratio * f64::from(k.n)).ceil();
    if !(n.is_finite() && n <= f64::from(MAX_AMPLE * k.n)) {
        return None;
    }
    let others = RoleShape {
        replicas: (n as u32).max(1),
        ..k.shape
    };
    Some(match k.role {
        Role::Prefill => unit(Mode::Disaggregated, measured, others),
        _ => unit(Mode::Disaggregated, others, measured),
    })
}

/// The screening estimate of every candidate of `candidates` (their scenarios, bounds and
/// probe workloads are `built`) with more than `above` GPUs, requests/s (`None`: not
/// screened), and the simulations the role probes ran. Runs on the current rayon pool.
pub fn estimates(
    ctx: &EvalContext,
    candidates: &[Candidate],
    built: &[Built],
    above: u32,
) -> Result<(Vec<Option<f64>>, u32), PlanError> {
    // The role configurations the screened units need, in order of first appearance.
    let mut keys: Vec<RoleKey> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut of: Vec<Vec<usize>> = vec![Vec::new(); candidates.len()];
    for (i, c) in candidates.iter().enumerate() {
        if c.gpus() <= above {
            continue;
        }
        for k in keys_of(c) {
            let n = keys.len();
            let at = *index.entry(format!("{k:?}")).or_insert(n);
            if at == n {
                keys.push(k);
            }
            of[i].push(at);
        }
    }
    if keys.is_empty() {
        return Ok((vec![None; candidates.len()], 0));
    }
    // The role probes: units and their setups (those that do not build screen nothing).
    let units: Vec<Option<Candidate>> = keys.par_iter().map(|k| probe_unit(ctx, k)).collect();
    let setups: Vec<Option<(Candidate, Built)>> = units
        .into_par_iter()
        .map(|u| u.and_then(|u| probe_setup(ctx, &u).ok().map(|b| (u, b))))
        .collect();
    let live: Vec<usize> = (0..keys.len()).filter(|&k| setups[k].is_some()).collect();
    let cands: Vec<&Candidate> = live
        .iter()
        .map(|&k| &setups[k].as_ref().expect("live").0)
        .collect();
    let builds: Vec<&Built> = live
        .iter()
        .map(|&k| &setups[k].as_ref().expect("live").1)
        .collect();
    let classes = seq_classes(&cands, &builds, &|m| builds[m].1);
    let outs: Vec<Result<(Vec<f64>, u32), PlanError>> = classes
        .par_iter()
        .map(|class| {
            let mut memo = ProbeMemo::default();
            let rates = class
                .iter()
                .map(|&m| {
                    let (sc, bound, pw) = builds[m];
                    let limit = cands[m].knobs.max_num_seqs;
                    max_rate_with(*bound, SPAN, ctx.precision, &mut |rate| {
                        memo.probe(sc.seed, limit, rate, || probe_flagged(sc, pw, rate, None))
                    })
                    .map(|o| o.max_rate_rps)
                })
                .collect::<Result<Vec<f64>, PlanError>>()?;
            Ok((rates, memo.simulated))
        })
        .collect();
    // Per-instance capacity of each key (`None`: screens nothing).
    let mut capacity: Vec<Option<f64>> = vec![None; keys.len()];
    let mut simulated = 0;
    for (class, out) in classes.iter().zip(outs) {
        let (rates, n) = out?;
        simulated += n;
        for (&m, r) in class.iter().zip(rates) {
            let k = live[m];
            capacity[k] = (r > 0.0).then_some(r / f64::from(keys[k].n));
        }
    }
    let est = candidates
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if of[i].is_empty() {
                return None;
            }
            // Per role, the capacities measured in size order, cut at the first size
            // that screens nothing; a role without one is not bounded by the screen.
            let role_est = |role: Role, n: u32| -> f64 {
                let caps: Vec<f64> = of[i]
                    .iter()
                    .filter(|&&k| keys[k].role == role)
                    .map_while(|&k| capacity[k])
                    .collect();
                if caps.is_empty() {
                    f64::INFINITY
                } else {
                    pooled(n, &caps)
                }
            };
            let e = match c.mode {
                Mode::Aggregated => role_est(Role::Aggregated, c.prefill.replicas),
                Mode::Disaggregated => role_est(Role::Prefill, c.prefill.replicas)
                    .min(role_est(Role::Decode, c.decode.replicas)),
            };
            if !e.is_finite() {
                return None;
            }
            Some(((1.0 + SCREEN_MARGIN) * e).min(built[i].1))
        })
        .collect();
    Ok((est, simulated))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooled_capacity_is_exact_at_the_measured_sizes_and_never_below_linear() {
        let caps = [0.2, 0.3, 0.36];
        assert!((pooled(1, &caps) - 0.2).abs() < 1e-12);
        assert!((pooled(SIZES[1], &caps) - f64::from(SIZES[1]) * 0.3).abs() < 1e-9);
        assert!((pooled(SIZES[2], &caps) - f64::from(SIZES[2]) * 0.36).abs() < 1e-9);
        let mut last = 0.0;
        for n in 1..40 {
            let x = pooled(n, &caps);
            assert!(x > last && x >= f64::from(n) * 0.2, "{n}: {x}");
            last = x;
        }
        // One size measured: linear; pooling that loses is read as flat.
        assert!((pooled(8, &[0.2]) - 1.6).abs() < 1e-12);
        assert!((pooled(8, &[0.2, 0.1]) - 1.6).abs() < 1e-12);
    }
}
