//! Sizing the recommendation: how many units (then replicas) of the chosen candidate
//! meet the SLOs at the target rate, confirmed by simulating the whole deployment
//! ([`confirm`]: grow whole units, then trim replicas), and what spares and spot mixes
//! `[plan] availability` and `spot-mix-percent` add ([`headroom`]).

use super::*;

/// Size `c` for `target` and confirm by simulating the whole deployment at that rate
/// with the scenario's own request count, raised to `min_requests` (see
/// [`super::CONFIRM_LIFETIMES`]; a trace keeps its own).
///
/// 1. Grow: whole units, from `ceil(target / unit rate)` up, while the SLOs are missed
///    (at most [`super::CONFIRM_EXTRA_UNITS`] more). A unit's rate was measured in isolation on
///    a short probe, so this first size is usually generous.
/// 2. Trim: once a size meets the SLOs, drop one replica at a time (the role whose
///    replica frees more GPUs first, prefill on ties) while the SLOs still hold, so the
///    deployment need not be a whole number of units (e.g. 7P4D from units of 2P1D). A
///    role whose trim misses the SLOs is not trimmed again (fewer replicas of it would
///    not do better). At most [`super::TRIM_RUNS`] trial runs.
///
/// With `level`, a size passes only when its probability of meeting every SLO
/// ([`probability_of`]) is at least `level` as well.
pub(super) fn confirm(
    settings: &PlanSettings,
    c: &Candidate,
    unit_rate_rps: f64,
    target: f64,
    min_requests: u64,
    level: Option<f64>,
) -> Result<Recommendation, PlanError> {
    let needed = (target / unit_rate_rps).ceil();
    let first = if needed.is_finite() && needed >= 1.0 {
        needed.min(f64::from(u32::MAX / 2)) as u32
    } else {
        1
    };
    let none = Replicas {
        prefill: 0,
        decode: 0,
    };
    let trial = |size: Replicas, units: u32| -> Result<Recommendation, PlanError> {
        let mut r = trial(settings, c, size, none, units, target, min_requests)?.0;
        if level.is_some() {
            r.probability = Some(probability_of(settings, &r, target)?);
        }
        Ok(r)
    };
    let ok = |r: &Recommendation| {
        r.confirm.met
            && level.is_none_or(|l| r.probability.as_ref().is_some_and(|p| p.p_meet_slo >= l))
    };
    // The deployment must stay within the instance limit (checked before it is built).
    let per_unit = instances(c);
    let most_units = u64::from(MAX_INSTANCES) / per_unit.max(1);
    if u64::from(first) > most_units {
        return Err(PlanError::Setting {
            setting: "--target-rate",
            message: format!(
                "{target} requests/s needs {first} units of {} ({unit_rate_rps:.3} requests/s each, {per_unit} instances per unit), over the limit of {MAX_INSTANCES} instances: lower --target-rate",
                c.shape_label()
            ),
        });
    }
    let last = (u64::from(first) + u64::from(CONFIRM_EXTRA_UNITS)).min(most_units) as u32;
    let mut rec = trial(c.replicas(first), first)?;
    for units in first + 1..=last {
        if ok(&rec) {
            break;
        }
        rec = trial(c.replicas(units), units)?;
    }
    if !ok(&rec) {
        return Ok(rec);
    }
    // Trim. Roles in the order their replicas are tried: more GPUs freed first.
    let mut roles = match c.mode {
        Mode::Disaggregated if c.decode.tp > c.prefill.tp => vec![Role::Decode, Role::Prefill],
        Mode::Disaggregated => vec![Role::Prefill, Role::Decode],
        Mode::Aggregated => vec![Role::Aggregated],
    };
    let mut runs = 0;
    while runs < TRIM_RUNS {
        let Some(pos) = roles.iter().position(|&r| rec.replicas.of(r) > 1) else {
            break;
        };
        let role = roles[pos];
        let mut size = rec.replicas;
        *size.of_mut(role) -= 1;
        runs += 1;
        let smaller = trial(size, rec.units)?;
        if ok(&smaller) {
            rec = smaller;
        } else {
            roles.remove(pos);
        }
    }
    rec.trim_runs = runs;
    Ok(rec)
}

/// Replicas of each role on spot capacity: none.
const NO_SPOT: Replicas = Replicas {
    prefill: 0,
    decode: 0,
};

/// Simulate `c` at `size` replicas (`spot` of them on spot capacity, reclaimed as the
/// base scenario's `[spot]` says, its trace left out) serving `target` requests/s with
/// at least `min_requests` requests (a trace keeps its own): the recommendation it
/// would make, what failures and reclaims did, and each role's measured fraction of
/// time with every replica up (empty without `[failures]` or `[spot]`).
#[allow(clippy::too_many_arguments)]
fn trial(
    settings: &PlanSettings,
    c: &Candidate,
    size: Replicas,
    spot: Replicas,
    units: u32,
    target: f64,
    min_requests: u64,
) -> Result<(Recommendation, RunFaults, Vec<f64>), PlanError> {
    let mut file = deployment_file(settings, c, size, target)?;
    if file.workload.trace.is_none()
        && let Some(n) = file.workload.requests.as_mut()
    {
        *n = (*n).max(min_requests);
    }
    if spot != NO_SPOT {
        let d = &mut file.deployment;
        let roles = match c.mode {
            Mode::Disaggregated => vec![
                (d.prefill.as_mut(), spot.prefill),
                (d.decode.as_mut(), spot.decode),
            ],
            Mode::Aggregated => vec![(d.aggregated.as_mut(), spot.prefill)],
        };
        for (r, n) in roles {
            if let Some(r) = r {
                r.spot_replicas = (n > 0).then_some(n);
            }
        }
        file.spot = settings.base.spot.clone().map(|mut s| {
            // The trace names the base scenario's instances, not these.
            s.events.clear();
            s
        });
    }
    let text = toml::to_string(&file).map_err(|e| PlanError::Candidate {
        candidate: c.shape_label(),
        message: format!("cannot write the scenario: {e}"),
    })?;
    // Replay exactly what `xpyd run` will read back.
    let mut sc = Scenario::from_text(
        Path::new("recommended.toml"),
        &settings.base_dir,
        &text,
        &[],
    )
    .map_err(|e| PlanError::Candidate {
        candidate: c.shape_label(),
        message: e.to_string(),
    })?;
    sc.memory_budget_gib = settings.memory_budget_gib;
    if let Some(shift) = &settings.engine_shift {
        shift.apply(&mut sc);
    }
    let draws = settings
        .confidence
        .as_ref()
        .and_then(|cs| ModelDraws::of(&cs.residuals, &sc).ok());
    let mut lat: Vec<Latency> = Vec::new();
    let mut sink = |r: &crate::metrics::RequestRecord| {
        if draws.is_some()
            && let Some(l) = latency(r)
        {
            lat.push(l);
        }
    };
    let out = run_verdict(&sc, System::Main, &mut sink)
        .or_else(crate::SimError::into_overloaded)
        .map_err(|e| PlanError::Workload {
            message: e.to_string(),
        })?;
    let mut confirm = ProbeMetrics::from_metrics(target, &out.metrics);
    confirm.p_model = p_model(&out.metrics, &lat, &sc.slo, draws.as_ref());
    let f = out.failures.clone().unwrap_or_default();
    let faults = RunFaults {
        lost: out.metrics.requests.lost.unwrap_or(0),
        retries: f.retries,
        failures: f.instance_failures,
        preemptions: f.preemptions,
    };
    let all_up = f.roles.iter().map(|r| r.availability).collect();
    let rec = Recommendation {
        index: c.index,
        units,
        replicas: size,
        gpus: c.gpus_of(size),
        usd_per_gpu_hour: None,
        trim_runs: 0,
        backend: sc.backend,
        attainment: out.metrics.slo.attainment,
        confirm,
        scenario: file,
        scenario_toml: text,
        headroom: None,
        probability: None,
    };
    Ok((rec, faults, all_up))
}

/// One simulated mix of [`headroom`].
struct Trial {
    percent: u32,
    spot: Replicas,
    usd: Option<f64>,
    rec: Recommendation,
    faults: RunFaults,
    all_up: Vec<f64>,
    sized: Vec<(Role, availability::Sized)>,
}

/// Add to `rec` (the SLO-sized deployment of `c`) the spares of `[plan] availability` and
/// compare the spot mixes of `[plan] spot-mix-percent`, each simulated at the target rate
/// with the base scenario's failures and reclaims on: the cheapest that meets the SLOs is
/// recommended (on-demand on ties, or when none does), with what its headroom buys.
pub(super) fn headroom(
    settings: &PlanSettings,
    ctx: &EvalContext,
    c: &Candidate,
    rec: Recommendation,
    min_requests: u64,
) -> Result<Recommendation, PlanError> {
    let sc = c.scenario(&settings.base, &settings.file, &settings.base_dir, 1)?;
    let up = uptimes(&sc, ctx.spot.as_ref());
    let target = ctx.target_rps;
    let needed = rec.replicas;
    let spot_price = ctx.spot.as_ref().and_then(|s| s.gpu_hour_usd);
    let roles: Vec<Role> = match c.mode {
        Mode::Disaggregated => vec![Role::Prefill, Role::Decode],
        Mode::Aggregated => vec![Role::Aggregated],
    };
    let usd = |size: Replicas, spot: Replicas| -> Option<f64> {
        let mut total = 0.0;
        for &role in &roles {
            let tp = match role {
                Role::Decode => c.decode.tp,
                Role::Prefill | Role::Aggregated => c.prefill.tp,
            };
            let od = ctx.price(c.gpu_of(role))?;
            let (n, s) = (size.of(role), spot.of(role));
            total += f64::from((n - s) * tp) * od + f64::from(s * tp) * spot_price.unwrap_or(od);
        }
        Some(total)
    };
    let out_of_reach = |percent: u32| PlanError::Setting {
        setting: "plan.availability",
        message: format!(
            "{} per role is out of reach of {} spares of {} at {percent}% spot: lower it, or lengthen the MTBF / shorten the cold start",
            ctx.availability.unwrap_or(0.0),
            availability::MAX_SPARES,
            c.shape_label()
        ),
    };
    let (size0, _, sized0) =
        with_spares(c, needed, &up, 0, ctx.availability).ok_or_else(|| out_of_reach(0))?;
    let mut mixes: Vec<SpotMix> = Vec::new();
    // (mix index, run) of the choice so far.
    let mut best: Option<Trial> = None;
    let percents: Vec<u32> = if ctx.spot_mixes.is_empty() {
        vec![0]
    } else {
        ctx.spot_mixes.clone()
    };
    for percent in percents {
        let (size, spot, sized) = if percent == 0 {
            (size0, NO_SPOT, sized0.clone())
        } else {
            match with_spares(c, needed, &up, percent, ctx.availability) {
                Some(x) => x,
                None => continue,
            }
        };
        if percent > 0 && spot == NO_SPOT {
            // Too few replicas for this share to put one on spot: on-demand again.
            continue;
        }
        let (r, faults, all_up) = trial(settings, c, size, spot, rec.units, target, min_requests)?;
        let availability = sized.iter().map(|(_, s)| s.availability).product();
        let cost = usd(size, spot);
        if !ctx.spot_mixes.is_empty() {
            mixes.push(SpotMix {
                percent,
                prefill_replicas: size.prefill,
                prefill_spot: spot.prefill,
                decode_replicas: size.decode,
                decode_spot: spot.decode,
                gpus: c.gpus_of(size),
                usd_per_hour: cost,
                availability,
                attainment: r.attainment,
                slo_met: r.confirm.met,
                faults: faults.clone(),
            });
        }
        let better = match &best {
            None => true,
            Some(b) => {
                r.confirm.met && (!b.rec.confirm.met || cost.zip(b.usd).is_some_and(|(x, y)| x < y))
            }
        };
        if better {
            best = Some(Trial {
                percent,
                spot,
                usd: cost,
                rec: r,
                faults,
                all_up,
                sized,
            });
        }
    }
    let Trial {
        percent: spot_percent,
        spot: chosen_spot,
        usd: usd_chosen,
        rec: chosen,
        faults,
        all_up,
        sized,
    } = best.expect("the on-demand mix always runs");
    let role_rows: Vec<RoleHeadroom> = sized
        .iter()
        .zip(&up)
        .enumerate()
        .map(|(k, ((role, s), u))| RoleHeadroom {
            measured_all_up: all_up.get(k).copied(),
            ..RoleHeadroom::new(*role, s, u)
        })
        .collect();
    let usd_without = usd(needed, NO_SPOT);
    let usd_od = usd(size0, NO_SPOT);
    debug_assert_eq!(usd_chosen, usd(chosen.replicas, chosen_spot));
    let mut out = chosen;
    out.trim_runs = rec.trim_runs;
    out.usd_per_gpu_hour = usd_chosen.map(|x| x / f64::from(out.gpus.max(1)));
    out.headroom = Some(Headroom {
        availability_target: ctx.availability,
        availability: role_rows.iter().map(|r| r.availability).product(),
        roles: role_rows,
        usd_per_hour_without_spares: usd_without,
        usd_per_hour_on_demand: usd_od,
        spares_usd_per_hour: usd_od.zip(usd_without).map(|(a, b)| a - b),
        spot_percent,
        usd_per_hour: usd_chosen,
        spot_savings_usd_per_hour: usd_od.zip(usd_chosen).map(|(a, b)| a - b),
        spot_mixes: mixes,
        confirm_faults: faults,
    });
    Ok(out)
}
