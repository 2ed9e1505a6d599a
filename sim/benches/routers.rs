//! Each router's `route` over 16 instances with varied loads.

use xpyd_sim::policy::router::{self, InstanceLoad, RouteRequest};
use xpyd_sim::rng::{Stream, Streams};
use xpyd_sim::scenario::RouterKind;

mod common;

fn main() {
    divan::main();
}

const KINDS: [RouterKind; 8] = RouterKind::ALL;

fn loads() -> Vec<InstanceLoad> {
    (0..16u16)
        .map(|i| InstanceLoad {
            id: i,
            outstanding: u32::from(i * 7 % 13),
            waiting: u32::from(i % 3),
            running: u32::from(i * 5 % 17),
            kv_utilization: f64::from(i) / 20.0,
            cached_blocks: u32::from(i % 4),
            active_tokens: u64::from(i) * 1000,
        })
        .collect()
}

/// 1,000 requests with prompts of 8 hash blocks (shared prefixes) and 50 sessions.
#[divan::bench(args = KINDS)]
fn route_16(bencher: divan::Bencher, kind: RouterKind) {
    let sc = common::scenario();
    let loads = loads();
    let keys: Vec<Vec<u64>> = (0..1000u64)
        .map(|k| (0..8).map(|b| (k % 20) * 100 + b).collect())
        .collect();
    bencher
        .counter(divan::counter::ItemsCount::new(keys.len()))
        .with_inputs(|| {
            (
                router::build(kind, &sc.routing, loads.len()),
                Streams::new(1).get(Stream::Router(0)),
            )
        })
        .bench_local_refs(|(r, rng)| {
            let mut sum = 0usize;
            for (k, prefix_keys) in keys.iter().enumerate() {
                let req = RouteRequest {
                    input_tokens: 4096,
                    prefix_keys,
                    hash_block_tokens: 512,
                    session: Some(k as u64 % 50),
                };
                sum += r.route(&req, &loads, rng);
            }
            sum
        });
}
