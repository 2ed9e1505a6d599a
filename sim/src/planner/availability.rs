//! N+k sizing for an availability target (`[plan] availability`), and the spot mixes the
//! planner compares with on-demand capacity (`[plan] spot-mix-percent`).
//!
//! # The model (standard k-out-of-n reliability)
//!
//! Each instance alternates between up and down independently of the others: it fails
//! at rate `lambda = tp / gpu-mtbf-hours + nodes / node-mtbf-hours` (the first of its
//! GPUs, or of the nodes it spans, takes it down; `[failures]`), a spot instance also at
//! `mu = spot.preemption-rate-per-hour`, and each failure keeps it down for its mean time
//! to repair: the notice (`failures.drain-notice-s`, `spot.notice-s`; the role counts as
//! down from the notice) plus the replacement's cold start, predicted by the cold-start
//! model for one loader (scheduling + image pull + weight load + warm-up; a cold cache).
//! By the renewal-reward theorem the fraction of time an instance is down is
//! `u = MTTR / (MTBF + MTTR)`, with two failure modes `u = x / (1 + x)`,
//! `x = lambda MTTR_f + mu MTTR_p` (Barlow and Proschan, *Statistical Theory of
//! Reliability and Life Testing*, 1975, ch. 7; the availability of a repairable unit).
//! A role that needs `N` instances and runs `N + k` is up while at most `k` are down:
//!
//! `A(N, k) = P(at most k of N + k down) = sum_{j=0..k} P(j down)`,
//!
//! the availability of a k-out-of-n:G system (n = N + k, at least N good; e.g. Kuo and
//! Zuo, *Optimal Reliability Modeling*, 2003, ch. 7), binomial when every instance has the
//! same `u`, Poisson-binomial (computed exactly by convolution) when the role mixes spot
//! and on-demand instances. The planner adds the fewest spares `k` with
//! `A(N, k) >= target`, per role.
//!
//! Approximations, stated: instances fail independently (a node failure that takes down
//! several instances of one node at once is counted per instance), repairs do not queue
//! (a replacement always finds GPUs), and the deployment's availability is the product
//! of its roles' (PD needs both).
//!
//! # Invariants
//!
//! - Pure functions of their inputs, no float reduced in parallel: the same plan at any
//!   thread count.
//! - `k` never exceeds [`MAX_SPARES`]; a target it cannot reach is `None`.
//! - A mix of `p` percent runs `round(p x (N + k) / 100)` (half up) of the role's
//!   `N + k` instances on spot: its last slots (`spot-replicas`).

use super::candidates::{Candidate, Replicas};
use crate::role::Role;
use crate::scenario::{
    ColdStartConfig, Mode, RoleConfig, Scenario, SpotConfig, Topology, load_seconds,
};
use serde::{Deserialize, Serialize};

/// Most spares one role is given.
pub const MAX_SPARES: u32 = 1024;

/// How one role's instances fail and come back.
#[derive(Clone, Debug, PartialEq)]
pub struct RoleUptime {
    /// The role.
    pub role: Role,
    /// Failures per second of one instance (GPU and node processes; 0 without).
    pub failure_rate_per_s: f64,
    /// Reclaims per second of one spot instance (0 without a preemption rate).
    pub preemption_rate_per_s: f64,
    /// Predicted cold start of a replacement, s.
    pub cold_start_s: f64,
    /// Time down per failure: drain notice + cold start, s.
    pub failure_mttr_s: f64,
    /// Time down per reclaim: spot notice + cold start, s.
    pub preemption_mttr_s: f64,
}

impl RoleUptime {
    /// The fraction of time one instance is down, on spot capacity or not.
    pub fn unavailability(&self, spot: bool) -> f64 {
        let mut x = self.failure_rate_per_s * self.failure_mttr_s;
        if spot {
            x += self.preemption_rate_per_s * self.preemption_mttr_s;
        }
        x / (1.0 + x)
    }

    /// Mean time between failures of one on-demand instance, hours (infinite without a
    /// failure process).
    pub fn mtbf_hours(&self) -> f64 {
        if self.failure_rate_per_s > 0.0 {
            1.0 / (self.failure_rate_per_s * 3600.0)
        } else {
            f64::INFINITY
        }
    }
}

/// The predicted cold start of one replica of `r` starting alone, s: scheduling, image
/// pull (no layer cache assumed), the weight load (the storage model's phases with a cold
/// cache, or the link-rate bound) and warm-up.
pub fn cold_start_s(cs: &ColdStartConfig, r: &RoleConfig) -> f64 {
    let bytes = r.memory.weight_bytes_per_gpu * f64::from(r.tp);
    let load = match &cs.storage {
        Some(m) => cs
            .load_phases(m.checkpoint_bytes.unwrap_or(bytes), r.tp, 1, false)
            .map_or(0.0, |p| p.total_s()),
        None => load_seconds(bytes.round() as u64, 1, cs),
    };
    cs.scheduling.as_secs_f64() + cs.image_pull.as_secs_f64() + load + cs.warmup.as_secs_f64()
}

/// How the instances of each role of `sc` fail and come back, in the topology's role
/// order (prefill, decode; or the aggregated role), with spot instances reclaimed as
/// `spot` says (a planner candidate's scenario has no `[spot]` of its own).
pub fn uptimes(sc: &Scenario, spot: Option<&SpotConfig>) -> Vec<RoleUptime> {
    let roles: Vec<(Role, &RoleConfig)> = match &sc.topology {
        Topology::Disaggregated { prefill, decode } => {
            vec![(Role::Prefill, prefill), (Role::Decode, decode)]
        }
        Topology::Aggregated(r) => vec![(Role::Aggregated, r)],
    };
    let drain = sc
        .failures
        .as_ref()
        .map_or(0.0, |f| f.drain_notice.as_secs_f64());
    let (preempt, notice) = spot.map_or((0.0, 0.0), |s| {
        (s.rate_per_s().unwrap_or(0.0), s.notice.as_secs_f64())
    });
    roles
        .into_iter()
        .map(|(role, r)| {
            let gpn = r
                .hardware
                .as_ref()
                .map_or(sc.kv_transfer.gpus_per_node, |h| h.gpus_per_node)
                .max(1);
            let nodes = r.tp.div_ceil(gpn);
            let failure_rate_per_s = sc.failures.as_ref().map_or(0.0, |f| {
                f.instance_rate_per_s(r.tp).unwrap_or(0.0)
                    + f.node_rate_per_s().unwrap_or(0.0) * f64::from(nodes)
            });
            let cold = cold_start_s(&sc.cold_start, r);
            RoleUptime {
                role,
                failure_rate_per_s,
                preemption_rate_per_s: preempt,
                cold_start_s: cold,
                failure_mttr_s: drain + cold,
                preemption_mttr_s: notice + cold,
            }
        })
        .collect()
}

/// Spot instances of a role of `total` instances under a mix of `percent` percent:
/// `round(percent x total / 100)`, half up.
pub fn spot_count(total: u32, percent: u32) -> u32 {
    ((u64::from(percent) * u64::from(total) + 50) / 100) as u32
}

/// One role sized for an availability target.
#[derive(Clone, Debug, PartialEq)]
pub struct Sized {
    /// Instances the SLOs need, `N`.
    pub needed: u32,
    /// Spares, `k`.
    pub spares: u32,
    /// Of the `N + k`, on spot capacity.
    pub spot: u32,
    /// `P(at least N of N + k up)`.
    pub availability: f64,
}

/// The fewest spares `k` such that at least `needed` of `needed + k` instances are up with
/// probability `target` or more (`None`: no spares, availability reported), a mix of
/// `percent` percent of them on spot; on-demand instances are down a fraction `u_od` of
/// the time, spot ones `u_spot`. `None` when [`MAX_SPARES`] spares do not reach it.
pub fn size(
    needed: u32,
    percent: u32,
    u_od: f64,
    u_spot: f64,
    target: Option<f64>,
) -> Option<Sized> {
    // dist[j] = P(j instances down), kept for j <= MAX_SPARES (only those are asked for).
    let cap = MAX_SPARES as usize + 1;
    let mut dist: Vec<f64> = vec![1.0];
    let add = |dist: &mut Vec<f64>, u: f64| {
        if dist.len() < cap {
            dist.push(0.0);
        }
        for j in (0..dist.len()).rev() {
            let down = if j > 0 { dist[j - 1] * u } else { 0.0 };
            dist[j] = dist[j] * (1.0 - u) + down;
        }
    };
    let spot0 = spot_count(needed, percent);
    for i in 0..needed {
        add(&mut dist, if i < spot0 { u_spot } else { u_od });
    }
    let mut total = needed;
    let mut up_to_k = dist[0];
    loop {
        let k = total - needed;
        let met = target.is_none_or(|t| up_to_k >= t);
        if met {
            return Some(Sized {
                needed,
                spares: k,
                spot: spot_count(total, percent),
                availability: up_to_k.min(1.0),
            });
        }
        if k >= MAX_SPARES {
            return None;
        }
        let spot_next = spot_count(total + 1, percent) > spot_count(total, percent);
        add(&mut dist, if spot_next { u_spot } else { u_od });
        total += 1;
        // Sum in index order: the same float at any thread count.
        up_to_k = dist[..=(k + 1) as usize].iter().sum();
    }
}

/// What [`with_spares`] gives: the replicas deployed per role (`N + k`), those on spot,
/// and each role's sizing, in role order.
pub type WithSpares = (Replicas, Replicas, Vec<(Role, Sized)>);

/// The roles of `c` with their uptimes (`up` in topology order).
fn roles_of<'a>(c: &Candidate, up: &'a [RoleUptime]) -> Vec<(Role, &'a RoleUptime)> {
    match c.mode {
        Mode::Disaggregated => vec![(Role::Prefill, &up[0]), (Role::Decode, &up[1])],
        Mode::Aggregated => vec![(Role::Aggregated, &up[0])],
    }
}

/// Each role of `c` at `needed` replicas sized for `target` with `percent` percent of
/// its instances on spot: the replicas deployed (`N + k` per role), the spot replicas per
/// role, and each role's sizing, in role order. `None` when a role cannot reach the target.
pub fn with_spares(
    c: &Candidate,
    needed: Replicas,
    up: &[RoleUptime],
    percent: u32,
    target: Option<f64>,
) -> Option<WithSpares> {
    let mut size = needed;
    let mut spot = Replicas {
        prefill: 0,
        decode: 0,
    };
    let mut out = Vec::new();
    for (role, u) in roles_of(c, up) {
        let s = size_role(needed.of(role), percent, u, target)?;
        *size.of_mut(role) += s.spares;
        *spot.of_mut(role) = s.spot;
        out.push((role, s));
    }
    Some((size, spot, out))
}

/// [`size`] of one role with its uptime.
fn size_role(needed: u32, percent: u32, u: &RoleUptime, target: Option<f64>) -> Option<Sized> {
    size(
        needed,
        percent,
        u.unavailability(false),
        u.unavailability(true),
        target,
    )
}

/// One role of the recommendation, as `recommendation.json`'s `headroom.roles` shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoleHeadroom {
    /// `prefill`, `decode` or `aggregated`.
    pub role: String,
    /// Replicas the SLOs need, `N`.
    pub needed: u32,
    /// Spares added for the availability target, `k`.
    pub spares: u32,
    /// Of the `N + k`, on spot capacity.
    pub spot: u32,
    /// Mean time between failures of one instance, hours (`null`: no failure process).
    pub instance_mtbf_hours: Option<f64>,
    /// Predicted cold start of a replacement, s.
    pub cold_start_s: f64,
    /// Time down per failure (drain notice + cold start), s.
    pub failure_mttr_s: f64,
    /// Time down per spot reclaim (notice + cold start), s.
    pub preemption_mttr_s: f64,
    /// Fraction of time one on-demand instance is down.
    pub unavailability_on_demand: f64,
    /// Fraction of time one spot instance is down.
    pub unavailability_spot: f64,
    /// `P(at least N of N + k up)`.
    pub availability: f64,
    /// Measured in the confirming run: the fraction of the run with every replica up
    /// (`failures.roles[].availability`; `null` without `[failures]` or `[spot]`).
    pub measured_all_up: Option<f64>,
}

impl RoleHeadroom {
    /// The row of `role` sized as `s` with uptime `u`.
    pub fn new(role: Role, s: &Sized, u: &RoleUptime) -> RoleHeadroom {
        RoleHeadroom {
            role: role.name().to_owned(),
            needed: s.needed,
            spares: s.spares,
            spot: s.spot,
            instance_mtbf_hours: Some(u.mtbf_hours()).filter(|h| h.is_finite()),
            cold_start_s: u.cold_start_s,
            failure_mttr_s: u.failure_mttr_s,
            preemption_mttr_s: u.preemption_mttr_s,
            unavailability_on_demand: u.unavailability(false),
            unavailability_spot: u.unavailability(true),
            availability: s.availability,
            measured_all_up: None,
        }
    }
}

/// What failures and reclaims did in a confirming run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunFaults {
    /// Requests lost to failures or reclaims.
    pub lost: u64,
    /// Retries of lost requests.
    pub retries: u64,
    /// Instance failures.
    pub failures: u64,
    /// Spot reclaims.
    pub preemptions: u64,
}

/// One spot mix of the recommended deployment, simulated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpotMix {
    /// Share of each role's replicas on spot, percent.
    pub percent: u32,
    /// Prefill replicas (an aggregated deployment's replicas), spares included.
    pub prefill_replicas: u32,
    /// Of them on spot.
    pub prefill_spot: u32,
    /// Decode replicas (0 aggregated), spares included.
    pub decode_replicas: u32,
    /// Of them on spot.
    pub decode_spot: u32,
    /// GPUs.
    pub gpus: u32,
    /// Price per hour, USD (spot GPU-hours at the spot price; `null` unpriced).
    pub usd_per_hour: Option<f64>,
    /// The deployment's availability by the model (product of its roles').
    pub availability: f64,
    /// SLO attainment of its run at the target rate, with reclaims and failures on.
    pub attainment: f64,
    /// Whether that run met the SLOs.
    pub slo_met: bool,
    /// What failures and reclaims did in that run.
    pub faults: RunFaults,
}

/// What the headroom of a recommendation buys: spares for the availability target and
/// the spot mix chosen, with their cost (`recommendation.json`'s `headroom`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Headroom {
    /// The per-role availability target (`null`: none, no spares).
    pub availability_target: Option<f64>,
    /// The deployment's availability by the model: the product of its roles'.
    pub availability: f64,
    /// Per role.
    pub roles: Vec<RoleHeadroom>,
    /// Price per hour of the replicas the SLOs need, all on-demand, USD.
    pub usd_per_hour_without_spares: Option<f64>,
    /// Price per hour with the spares, all on-demand, USD.
    pub usd_per_hour_on_demand: Option<f64>,
    /// What the spares cost per hour, on-demand, USD.
    pub spares_usd_per_hour: Option<f64>,
    /// The spot share chosen, percent (0: on-demand).
    pub spot_percent: u32,
    /// Price per hour of the recommendation, USD.
    pub usd_per_hour: Option<f64>,
    /// What the chosen spot mix saves per hour against on-demand with spares, USD.
    pub spot_savings_usd_per_hour: Option<f64>,
    /// Every spot mix compared (empty without `[spot]` prices): the cheapest that meets
    /// the SLOs is chosen, on-demand on ties.
    pub spot_mixes: Vec<SpotMix>,
    /// What failures and reclaims did in the recommendation's confirming run.
    pub confirm_faults: RunFaults,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binomial_at_least(n: u32, total: u32, u: f64) -> f64 {
        // P(at most total - n down), by the binomial formula.
        let mut p = 0.0;
        for j in 0..=(total - n) {
            let mut c = 1.0;
            for i in 0..j {
                c = c * f64::from(total - i) / f64::from(i + 1);
            }
            p += c * u.powi(j as i32) * (1.0 - u).powi((total - j) as i32);
        }
        p
    }

    #[test]
    fn spares_match_the_binomial_formula() {
        // u = 0.01: 4 instances all up with 0.99^4 = 0.9606; one spare: 0.99^5 + 5 x
        // 0.01 x 0.99^4 = 0.99902; two spares reach 0.99998.
        let u = 0.01;
        let s = size(4, 0, u, u, Some(0.999)).unwrap();
        assert_eq!((s.needed, s.spares, s.spot), (4, 1, 0));
        assert!((s.availability - binomial_at_least(4, 5, u)).abs() < 1e-12);
        assert!(binomial_at_least(4, 4, u) < 0.999);
        let s = size(4, 0, u, u, Some(0.9999)).unwrap();
        assert_eq!(s.spares, 2);
        assert!((s.availability - binomial_at_least(4, 6, u)).abs() < 1e-12);
        // No target: no spares, the availability of N alone.
        let s = size(4, 0, u, u, None).unwrap();
        assert_eq!(s.spares, 0);
        assert!((s.availability - 0.99f64.powi(4)).abs() < 1e-12);
        // Nothing fails: nothing to add.
        assert_eq!(size(7, 0, 0.0, 0.0, Some(0.999_999)).unwrap().spares, 0);
        // A target that no number of spares reaches.
        assert_eq!(size(2, 0, 0.9999, 0.9999, Some(0.999)), None);
    }

    #[test]
    fn spot_instances_need_more_spares() {
        let (od, spot) = (0.001, 0.05);
        let all_od = size(4, 0, od, spot, Some(0.999)).unwrap();
        let half = size(4, 50, od, spot, Some(0.999)).unwrap();
        let all_spot = size(4, 100, od, spot, Some(0.999)).unwrap();
        assert!(all_od.spares <= half.spares && half.spares <= all_spot.spares);
        assert!(all_spot.spares > all_od.spares);
        assert_eq!(all_spot.spot, 4 + all_spot.spares);
        assert_eq!(half.spot, spot_count(4 + half.spares, 50));
        // Identical spot instances: the binomial again.
        assert!(
            (all_spot.availability - binomial_at_least(4, 4 + all_spot.spares, spot)).abs() < 1e-12
        );
        assert_eq!(spot_count(5, 50), 3);
        assert_eq!(spot_count(3, 25), 1);
        assert_eq!(spot_count(1, 25), 0);
    }

    #[test]
    fn unavailability_is_mttr_over_mtbf_plus_mttr() {
        let r = RoleUptime {
            role: Role::Decode,
            failure_rate_per_s: 1.0 / 3600.0,
            preemption_rate_per_s: 2.0 / 3600.0,
            cold_start_s: 100.0,
            failure_mttr_s: 100.0,
            preemption_mttr_s: 220.0,
        };
        // MTBF 3600 s, MTTR 100 s: 100 / 3700.
        assert!((r.unavailability(false) - 100.0 / 3700.0).abs() < 1e-15);
        let x = 100.0 / 3600.0 + 440.0 / 3600.0;
        assert!((r.unavailability(true) - x / (1.0 + x)).abs() < 1e-15);
        assert_eq!(r.mtbf_hours(), 1.0);
    }
}
