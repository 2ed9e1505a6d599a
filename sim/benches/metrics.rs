//! Latency samples: recording a million of them, exactly (sorted at the end) below
//! `EXACT_SAMPLES` and streamed into the HDR histogram past it, then summarising.

use xpyd_sim::metrics::{EXACT_SAMPLES, Samples, WeightedSamples};

fn main() {
    divan::main();
}

/// Latency-like values (ms) from a fixed xorshift: log-uniform over 1 ms .. 10 s.
fn values(n: usize) -> Vec<f64> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            10f64.powf(4.0 * (x >> 11) as f64 / (1u64 << 53) as f64)
        })
        .collect()
}

/// Below the exact limit and ~4x past it.
#[divan::bench(args = [EXACT_SAMPLES / 4, 4 * EXACT_SAMPLES])]
fn push(bencher: divan::Bencher, n: usize) {
    let v = values(n);
    bencher
        .counter(divan::counter::ItemsCount::new(n))
        .bench_local(|| {
            let mut s = Samples::default();
            for &x in &v {
                s.push(x);
            }
            divan::black_box(s.distribution())
        });
}

/// One weighted sample per decode step (the ITL pattern: the gap, times the batch).
#[divan::bench(args = [EXACT_SAMPLES / 4, 4 * EXACT_SAMPLES])]
fn push_weighted(bencher: divan::Bencher, n: usize) {
    let v = values(n);
    bencher
        .counter(divan::counter::ItemsCount::new(n))
        .bench_local(|| {
            let mut s = WeightedSamples::default();
            for (k, &x) in v.iter().enumerate() {
                s.push(x, 1 + (k % 64) as u64);
            }
            divan::black_box(s.distribution())
        });
}
