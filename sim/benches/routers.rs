//! One routing decision as the engine makes it, over 16, 128 and 1,024 workers: the
//! engine's routing glue (the routers' view of the workers) plus the router's `route`,
//! then the load change the decision causes (the chosen worker gains a request, another
//! one finishes one).
//!
//! The fleet: varied loads (some GAIE-saturated), and exact prefix caches where each of
//! 64 prompt families (8 hash blocks of 512 tokens) is held by two workers; requests use
//! 80 families, so some match nowhere: the common case of a large fleet, where most
//! workers hold none of a request's blocks.

use xpyd_sim::policy::router::{self, InstanceLoad, RouteRequest, Router};
use xpyd_sim::prefix_cache::{PrefixCache, chain_keys};
use xpyd_sim::rng::{SimRng, Stream, Streams};
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

/// What the engine knows of one worker.
#[derive(Clone)]
struct Worker {
    outstanding: u32,
    waiting: u32,
    running: u32,
    kv_utilization: f64,
    active_tokens: u64,
    cache: PrefixCache,
}

/// Chain keys of prompt family `f`.
fn family(f: u64) -> Vec<u64> {
    let hashes: Vec<u64> = (0..8).map(|b| f * 100 + b).collect();
    chain_keys(&hashes, 8)
}

fn fleet(n: usize) -> Vec<Worker> {
    let mut w: Vec<Worker> = (0..n)
        .map(|i| {
            let i = i as u64;
            let outstanding = (i * 7 % 13) as u32;
            Worker {
                outstanding,
                waiting: (i % 7) as u32,
                running: (i * 5 % 17) as u32,
                kv_utilization: (i * 37 % 100) as f64 / 100.0,
                active_tokens: u64::from(outstanding) * u64::from(PROMPT),
                cache: PrefixCache::new(32),
            }
        })
        .collect();
    for f in 0..64u64 {
        let keys = family(f);
        for holder in [(f * 3) as usize % n, (f * 5 + 1) as usize % n] {
            let c = &mut w[holder].cache;
            for &k in &keys {
                c.insert(k);
            }
            c.release(&keys);
        }
    }
    w
}

/// The engine's view of the workers for a router (what `Simulation::route` built).
fn loads(workers: &[Worker], exact: bool, keys: &[u64], out: &mut Vec<InstanceLoad>) {
    out.clear();
    out.extend(workers.iter().enumerate().map(|(i, x)| InstanceLoad {
        id: i as u16,
        outstanding: x.outstanding,
        waiting: x.waiting,
        running: x.running,
        kv_utilization: x.kv_utilization,
        cached_blocks: if exact {
            x.cache.match_len(keys) as u32
        } else {
            0
        },
        active_tokens: x.active_tokens,
    }));
}

/// Decision `d` sent a request to worker `k`; worker `d * 13 mod n` finishes one.
fn settle(workers: &mut [Worker], k: usize, d: usize) {
    let w = &mut workers[k];
    w.outstanding += 1;
    w.waiting += 1;
    w.active_tokens += u64::from(PROMPT);
    let n = workers.len();
    let w = &mut workers[d * 13 % n];
    if w.outstanding > 0 {
        w.outstanding -= 1;
        w.waiting = w.waiting.saturating_sub(1);
        w.active_tokens -= u64::from(PROMPT);
    }
}

fn bench(bencher: divan::Bencher, kind: RouterKind, n: usize) {
    let sc = common::scenario();
    let workers = fleet(n);
    let requests: Vec<Vec<u64>> = (0..DECISIONS as u64).map(|k| family(k * 7 % 80)).collect();
    bencher
        .counter(divan::counter::ItemsCount::new(DECISIONS))
        .with_inputs(|| {
            let r: Box<dyn Router + Send> = router::build(kind, &sc.routing, n);
            let rng: SimRng = Streams::new(1).get(Stream::Router(0));
            (r, rng, workers.clone(), Vec::with_capacity(n))
        })
        .bench_local_refs(|(r, rng, workers, buf)| {
            let mut sum = 0usize;
            for (d, prefix_keys) in requests.iter().enumerate() {
                let req = RouteRequest {
                    input_tokens: PROMPT,
                    prefix_keys,
                    hash_block_tokens: 512,
                    session: Some(d as u64 % 50),
                };
                loads(workers, r.wants_cache_state(), prefix_keys, buf);
                let k = r.route(&req, buf, rng);
                settle(workers, k, d);
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
