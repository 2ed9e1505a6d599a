//! What the failure and spot tests share: a run that keeps every request record, and
//! the accounting every such run must satisfy.

use proptest::prelude::*;
use xpyd_sim::metrics::{Outcome, RequestRecord};
use xpyd_sim::scenario::Scenario;
use xpyd_sim::{RunOutput, System};

/// Run `sc` (main system), keeping every request record.
pub(crate) fn run(sc: &Scenario) -> (RunOutput, Vec<RequestRecord>) {
    let mut recs = Vec::new();
    let out = xpyd_sim::run(sc, System::Main, &mut |r| recs.push(r.clone())).unwrap();
    (out, recs)
}

/// Every arrived request ends once, in exactly one outcome (`arrived = completed +
/// rejected + unfinished + timed_out + lost`); lost requests have no TTFT or E2E and
/// TTFT never exceeds E2E; GPU time stops at the makespan; availabilities are fractions;
/// every KV block comes back; spot GPU-seconds are part of each role's.
pub(crate) fn check_accounting(
    out: &RunOutput,
    recs: &[RequestRecord],
) -> Result<(), TestCaseError> {
    let c = &out.metrics.requests;
    let lost = c.lost.unwrap_or(0);
    prop_assert_eq!(
        c.arrived,
        c.completed + c.rejected + c.unfinished + c.timed_out.unwrap_or(0) + lost
    );
    prop_assert_eq!(recs.len() as u64, c.arrived);
    let count = |o: Outcome| recs.iter().filter(|r| r.outcome == o).count() as u64;
    prop_assert_eq!(count(Outcome::Lost), lost);
    prop_assert_eq!(count(Outcome::Completed), c.completed);
    prop_assert_eq!(count(Outcome::Unfinished), c.unfinished);
    let mut ids: Vec<u64> = recs.iter().map(|r| r.id).collect();
    ids.sort_unstable();
    ids.dedup();
    prop_assert_eq!(ids.len(), recs.len(), "a request ended twice");
    for r in recs {
        if r.outcome == Outcome::Lost {
            prop_assert!(r.ttft_ms.is_none() && r.e2e_ms.is_none(), "{:?}", r);
        }
        if let (Some(t), Some(e)) = (r.ttft_ms, r.e2e_ms) {
            prop_assert!(t <= e + 1e-9, "{:?}", r);
        }
    }
    // GPU time is accounted up to the last completion, whatever replicas did after it
    // (a failure, a notice, a reclaim).
    let held: f64 = out
        .instances
        .iter()
        .map(|x| f64::from(x.tp) * out.metrics.makespan_s)
        .sum();
    prop_assert!(
        out.gpu_seconds <= held + 1e-6,
        "{} > {held}",
        out.gpu_seconds
    );
    let f = out.failures.as_ref().expect("a failure report");
    for role in &f.roles {
        prop_assert!((0.0..=1.0).contains(&role.availability), "{:?}", role);
    }
    // Every KV block held by a request was freed (none is in flight at the end).
    if c.unfinished == 0 {
        for x in &out.instances {
            prop_assert_eq!(x.kv_blocks_in_use_at_end, 0, "{:?}", x);
        }
    }
    for (s, all) in out
        .spot_gpu_seconds_by_role
        .iter()
        .zip(&out.gpu_seconds_by_role)
    {
        prop_assert!(*s >= 0.0 && *s <= *all + 1e-9);
    }
    Ok(())
}
