//! The KV-aware, cache-aware and GAIE routers' decisions, pinned end to end: the event-trace
//! hash of runs of the shipped scenarios behind each of them (aggregated and PD, with and
//! without shared prefixes, with autoscaling and failures changing the ready set).
//!
//! The hashes were computed before the routers' incremental indexes replaced their linear
//! scans (issue 19, "Routers that scale"); a change here means a routing decision changed.
//! Update them only for a named bug fix.

use std::path::Path;
use xpyd_sim::scenario::{Overrides, RouterKind, Scenario};
use xpyd_sim::{RunOutput, System, run};

/// One run: a shipped scenario, the router of every role (`None`: as shipped), and
/// `--set` overrides.
struct Case {
    file: &'static str,
    router: Option<RouterKind>,
    sets: &'static [&'static str],
    hash: u64,
}

/// Shared 2,048-token prompts of 512-token hash blocks (8 of them, Zipf-popular) on 80%
/// of the requests, so prefix-aware routers have something to follow.
const PREFIX: [&str; 5] = [
    "workload.prefix.kind=\"shared-prompt\"",
    "workload.prefix.prompts=8",
    "workload.prefix.tokens=2048",
    "workload.prefix.zipf-s=1.0",
    "workload.prefix.fraction=0.8",
];

/// `seed-sglang-2p1d` grown to 6P3D at 6 req/s with shared prefixes.
const PD: [&str; 9] = [
    "deployment.prefill.replicas=6",
    "deployment.decode.replicas=3",
    "workload.requests=300",
    "workload.arrival.rate-rps=6.0",
    PREFIX[0],
    PREFIX[1],
    PREFIX[2],
    PREFIX[3],
    PREFIX[4],
];

/// `autoscale-burst` cut to its first 2,500 requests, with shared prefixes: replicas
/// join the router's ready set as the burst scales the role out.
const SCALING: [&str; 6] = [
    "workload.requests=2500",
    PREFIX[0],
    PREFIX[1],
    PREFIX[2],
    PREFIX[3],
    PREFIX[4],
];

/// The 6P3D PD run with GPU failures: replicas leave the ready set and come back.
const FAILING: [&str; 11] = [
    "deployment.prefill.replicas=6",
    "deployment.decode.replicas=3",
    "workload.requests=300",
    "workload.arrival.rate-rps=6.0",
    "failures.gpu-mtbf-hours=0.02",
    PREFIX[0],
    PREFIX[1],
    PREFIX[2],
    PREFIX[3],
    PREFIX[4],
    "failures.retries=2",
];

const MOONCAKE: &str = "mooncake-kv-routing.toml";
const MOONCAKE_SHORT: &[&str] = &["workload.requests=1500"];
const SOFTMAX: &[&str] = &["workload.requests=800", "routing.kv-aware.temperature=0.5"];

const SGLANG: &str = "seed-sglang-2p1d.toml";
const BURST: &str = "autoscale-burst.toml";

/// The runs and their hashes, computed on the linear-scan routers (commit b0258ae).
fn cases() -> Vec<Case> {
    use RouterKind::{CacheAware, Gaie, KvAware};
    let case = |file, router, sets, hash| Case {
        file,
        router,
        sets,
        hash,
    };
    vec![
        // The shipped scenario as it is (`xpyd run` reports the same hash).
        case(MOONCAKE, None, &[], 0xd8ec_eb9f_ab2e_1368),
        case(MOONCAKE, None, MOONCAKE_SHORT, 0x5d6c_23c7_2e5d_cb4c),
        case(
            MOONCAKE,
            Some(CacheAware),
            MOONCAKE_SHORT,
            0x0fa5_aa9a_6640_3ef2,
        ),
        case(MOONCAKE, Some(Gaie), MOONCAKE_SHORT, 0x2692_48da_1960_0288),
        case(MOONCAKE, Some(KvAware), SOFTMAX, 0xc4b2_8ed3_e780_2182),
        case(SGLANG, Some(KvAware), &PD, 0xdf92_ea46_4bad_9077),
        case(SGLANG, Some(CacheAware), &PD, 0xf854_5bfd_7d9e_1c43),
        case(SGLANG, Some(Gaie), &PD, 0x4034_ba08_3a95_1fdb),
        case(BURST, Some(KvAware), &SCALING, 0x4ed0_76fd_ed5f_9e31),
        case(BURST, Some(CacheAware), &SCALING, 0x40bd_0e2e_9cd6_7d16),
        case(BURST, Some(Gaie), &SCALING, 0xdd58_a065_2e3f_6923),
        case(SGLANG, Some(KvAware), &FAILING, 0xd97d_8050_637e_2c29),
        case(SGLANG, Some(CacheAware), &FAILING, 0xb134_3f26_5e6d_3f7b),
        case(SGLANG, Some(Gaie), &FAILING, 0xb5db_e891_e3bb_3c1b),
    ]
}

fn run_case(c: &Case) -> RunOutput {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(c.file);
    let ov = Overrides {
        sets: c.sets.iter().map(|s| s.to_string()).collect(),
        router: c.router,
        ..Overrides::default()
    };
    let sc = Scenario::load_with(Some(&path), &ov).unwrap_or_else(|e| panic!("{e}"));
    run(&sc, System::Main, &mut |_| {}).expect("the scenario runs")
}

fn line(c: &Case, hash: u64) -> String {
    format!("{} {:?} {:?} {hash:016x}", c.file, c.router, c.sets)
}

#[test]
fn router_decisions_keep_their_trace_hashes() {
    let mut got = Vec::new();
    for c in cases() {
        let out = run_case(&c);
        // The runs exercise what they are meant to: prefix hits, replicas joining the
        // ready set, replicas failing.
        let hits: u64 = out.instances.iter().map(|i| i.prefix_hit_tokens).sum();
        assert!(hits > 0, "{}: no prefix hit", line(&c, 0));
        if c.sets == SCALING {
            assert!(out.scale_events.iter().any(|e| e.state == "ready"));
        }
        if c.sets == FAILING {
            let f = out.failures.as_ref().expect("failures configured");
            assert!(f.instance_failures > 0, "{}: no failure", line(&c, 0));
        }
        got.push(line(&c, out.trace_hash));
    }
    let want: Vec<String> = cases().iter().map(|c| line(c, c.hash)).collect();
    assert_eq!(got, want);
}
