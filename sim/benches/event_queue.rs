//! Event queue: push then pop `n` events with pseudo-random times (the engine's
//! pattern: near-future steps and timers interleaved).

use xpyd_sim::SimTime;
use xpyd_sim::event::{Event, EventQueue};
use xpyd_sim::id::InstanceId;

fn main() {
    divan::main();
}

/// Times spread over 1 s, from a fixed LCG (no RNG crate in the timed loop).
fn times(n: usize) -> Vec<u64> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (x >> 33) % 1_000_000_000
        })
        .collect()
}

#[divan::bench(args = [1_000, 100_000])]
fn push_then_pop(bencher: divan::Bencher, n: usize) {
    let t = times(n);
    bencher
        .counter(divan::counter::ItemsCount::new(n))
        .bench_local(|| {
            let mut q = EventQueue::new();
            for (k, &at) in t.iter().enumerate() {
                q.push(SimTime(at), Event::StepDone(InstanceId(k as u16 & 15)));
            }
            let mut last = 0;
            while let Some((at, _, _)) = q.pop() {
                last = at.as_nanos();
            }
            divan::black_box(last)
        });
}

/// Steady state: a queue holding `n` events, each pop followed by a push a little later
/// (the hold model).
#[divan::bench(args = [64, 4_096])]
fn hold(bencher: divan::Bencher, n: usize) {
    let t = times(n + 10_000);
    bencher
        .counter(divan::counter::ItemsCount::new(10_000usize))
        .with_inputs(|| {
            let mut q = EventQueue::new();
            for &at in &t[..n] {
                q.push(SimTime(at), Event::TryStep(InstanceId(0)));
            }
            q
        })
        .bench_local_refs(|q| {
            for &d in &t[n..] {
                let (at, _, ev) = q.pop().expect("non-empty");
                q.push(SimTime(at.as_nanos() + d % 50_000_000), ev);
            }
        });
}
