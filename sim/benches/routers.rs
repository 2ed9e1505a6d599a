//! One routing decision as the engine makes it, over 16, 128 and 1,024 workers: the
//! router's `route` on the loads it was told of (a `Pool`), then the load changes the
//! decision causes (the chosen worker gains a request, another one finishes one), told to
//! the router one at a time as the engine's refresh does. (Before the routers' indexes,
//! issue 19, the engine rebuilt every worker's load and looked its cache up for each
//! decision; `docs/performance.md` has the numbers of both.)
//!
//! The fleet: varied loads (some GAIE-saturated), and exact prefix caches where each of
//! 64 prompt families (8 hash blocks of 512 tokens) is held by two workers, told to the
//! routers as KV events at setup; requests use 80 families, so some match nowhere: the
//! common case of a large fleet, where most workers hold none of a request's blocks.

use xpyd_sim::policy::router::{self, InstanceLoad, Pool, RouteRequest};
use xpyd_sim::prefix_cache::{KvEvent, chain_keys};
use xpyd_sim::rng::{Stream, Streams};
use xpyd_sim::scenario::RouterKind;

mod common;

fn main() {
    divan::main();
}

const KINDS: [RouterKind; 8] = RouterKind::ALL;

/// Decisions per timed iteration.
const DECISIONS: usize = 1000;
/// Prompt tokens of every request (8 hash blocks).
const PROMPT: u32 = 4096;

/// Chain keys of prompt family `f`.
fn family(f: u64) -> Vec<u64> {
    let hashes: Vec<u64> = (0..8).map(|b| f * 100 + b).collect();
    chain_keys(&hashes, 8)
}

/// The workers' loads, and the `(worker, key)` pairs their caches hold.
fn fleet(n: usize) -> (Vec<InstanceLoad>, Vec<(u16, u64)>) {
    let loads = (0..n)
        .map(|i| {
            let outstanding = (i * 7 % 13) as u32;
            InstanceLoad {
                id: i as u16,
                outstanding,
                waiting: (i % 7) as u32,
                running: (i * 5 % 17) as u32,
                kv_utilization: (i * 37 % 100) as f64 / 100.0,
                active_tokens: u64::from(outstanding) * u64::from(PROMPT),
            }
        })
        .collect();
    let mut held = Vec::new();
    for f in 0..64u64 {
        for holder in [(f * 3) as usize % n, (f * 5 + 1) as usize % n] {
            held.extend(family(f).into_iter().map(|k| (holder as u16, k)));
        }
    }
    (loads, held)
}

/// Decision `d` sent a request to the worker at position `k`; the worker at `d * 13 mod
/// n` finishes one.
fn settle(p: &mut Pool, k: usize, d: usize) {
    let mut l = p.loads()[k];
    l.outstanding += 1;
    l.waiting += 1;
    l.active_tokens += u64::from(PROMPT);
    p.set(k, l);
    let j = d * 13 % p.loads().len();
    let mut l = p.loads()[j];
    if l.outstanding > 0 {
        l.outstanding -= 1;
        l.waiting = l.waiting.saturating_sub(1);
        l.active_tokens -= u64::from(PROMPT);
        p.set(j, l);
    }
}

fn bench(bencher: divan::Bencher, kind: RouterKind, n: usize) {
    let sc = common::scenario();
    let (loads, held) = fleet(n);
    let requests: Vec<Vec<u64>> = (0..DECISIONS as u64).map(|k| family(k * 7 % 80)).collect();
    bencher
        .counter(divan::counter::ItemsCount::new(DECISIONS))
        .with_inputs(|| {
            let mut p = Pool::new(router::build(kind, &sc.routing, n));
            p.reset(loads.iter().copied());
            if p.wants_kv_events() {
                for &(id, key) in &held {
                    p.kv_event(id, KvEvent::Stored(key));
                }
            }
            (p, Streams::new(1).get(Stream::Router(0)))
        })
        .bench_local_refs(|(p, rng)| {
            let mut sum = 0usize;
            for (d, prefix_keys) in requests.iter().enumerate() {
                let req = RouteRequest {
                    input_tokens: PROMPT,
                    prefix_keys,
                    hash_block_tokens: 512,
                    session: Some(d as u64 % 50),
                };
                let k = p.route(&req, rng);
                settle(p, k, d);
                sum += k;
            }
            sum
        });
}

/// 1,000 decisions over 16 workers.
#[divan::bench(args = KINDS)]
fn route_16(bencher: divan::Bencher, kind: RouterKind) {
    bench(bencher, kind, 16);
}

/// 1,000 decisions over 128 workers.
#[divan::bench(args = KINDS)]
fn route_128(bencher: divan::Bencher, kind: RouterKind) {
    bench(bencher, kind, 128);
}

/// 1,000 decisions over 1,024 workers.
#[divan::bench(args = KINDS)]
fn route_1024(bencher: divan::Bencher, kind: RouterKind) {
    bench(bencher, kind, 1024);
}
