//! Arrivals: seeds and streams, schedules, rates, closed loops, shared prompts, a million requests.

use super::*;

#[test]
fn same_seed_same_requests_other_seed_differs() {
    let w = workload(POISSON);
    let a = open_all(&w, 1);
    assert_eq!(a.len(), 2000);
    assert_eq!(a, open_all(&w, 1));
    let b = open_all(&w, 2);
    assert_ne!(a, b);
    assert!(a.windows(2).all(|p| p[0].arrival <= p[1].arrival));
    assert!(
        a[0].arrival > SimTime::ZERO,
        "the first arrival is one gap in"
    );
    assert!(a.iter().all(|r| (1..=8192).contains(&r.input_tokens)));
    assert!(a.iter().all(|r| (16..=256).contains(&r.output_tokens)));
    assert!(
        a.iter()
            .all(|r| r.block_hashes.is_empty() && r.hash_block_tokens == 0)
    );
    assert_eq!(w.mode(), ArrivalMode::Open);
    assert_eq!(w.requests(), Some(2000));
    assert_eq!(
        w.describe(),
        "2000 requests, poisson 10 req/s; input lognormal(mean 1000, std 500, [1, 8192]) tok; \
         output uniform [16, 256] tok"
    );
}

#[test]
fn streams_are_independent_per_purpose() {
    // Changing the output distribution must not move arrivals or inputs.
    let w1 = workload(POISSON);
    let w2 = workload(&POISSON.replace("min = 16\nmax = 256", "min = 1\nmax = 9"));
    let (a, b) = (open_all(&w1, 5), open_all(&w2, 5));
    assert!(a.iter().zip(&b).all(|(x, y)| x.arrival == y.arrival));
    assert!(
        a.iter()
            .zip(&b)
            .all(|(x, y)| x.input_tokens == y.input_tokens)
    );
}

#[test]
fn schedule_from_toml() {
    let w = workload(
        r#"
[workload]
requests = 3000
[workload.arrival]
kind = "schedule"
interpolation = "step"
points = [{ at-s = 0, rate-rps = 5 }, { at-s = 100, rate-rps = 50 }]
[workload.input-tokens]
kind = "fixed"
tokens = 10
[workload.output-tokens]
kind = "fixed"
tokens = 10
"#,
    );
    assert_eq!(
        w.describe(),
        "3000 requests, schedule (step, 2 points, 5..50 req/s); input fixed 10 tok; \
         output fixed 10 tok"
    );
    let r = open_all(&w, 8);
    let before = r.iter().filter(|r| r.arrival.as_secs_f64() < 100.0).count();
    assert!(
        (400..600).contains(&before),
        "{before} arrivals in the first 100 s"
    );
    let e = parse(
        "[workload]\n[workload.arrival]\nkind = \"schedule\"\n\
         points = [{ at-s = 0, rate = 5 }]\n",
    );
    let e = e.err().unwrap_or_default();
    assert!(e.contains("unknown field `rate`"), "{e}");
}

#[test]
fn shared_prompts_fill_block_hashes_without_moving_arrivals() {
    let prefix = "[workload.prefix]\nkind = \"shared-prompt\"\nprompts = 4\ntokens = 1024\n\
                  block-tokens = 256\n";
    let plain = workload(POISSON);
    let shared = workload(&format!("{POISSON}{prefix}"));
    assert!(shared.describe().ends_with(
        "; prefix 4 shared prompts x 1024 tok (uniform, 100% of requests, 256-tok blocks)"
    ));
    let (a, b) = (open_all(&plain, 3), open_all(&shared, 3));
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.arrival, y.arrival);
        assert_eq!(x.output_tokens, y.output_tokens);
        assert_eq!(y.input_tokens, x.input_tokens + 1024);
        assert_eq!(y.hash_block_tokens, 256);
        assert_eq!(y.block_hashes.len(), y.input_tokens.div_ceil(256) as usize);
    }
    // Four prompts of four full blocks each: exactly four distinct leading runs.
    let mut heads: Vec<&[u64]> = b.iter().map(|r| &r.block_hashes[..4]).collect();
    heads.sort_unstable();
    heads.dedup();
    assert_eq!(heads.len(), 4);
    let e = invalid(
        &format!(
            "[workload]\n[workload.trace]\nformat = \"mooncake\"\n\
             path = \"builtin:mooncake-synthetic\"\n{prefix}"
        ),
        Path::new("."),
    );
    assert_eq!(e.field(), "workload.prefix");
}

#[test]
fn with_rate_rescales_every_open_workload() {
    let w = workload(POISSON);
    assert_eq!(w.rate_rps(), Some(10.0));
    let fast = w.with_rate(40.0).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(fast.rate_rps(), Some(40.0));
    let (a, b) = (open_all(&w, 2), open_all(&fast, 2));
    assert!(
        a.iter()
            .zip(&b)
            .all(|(x, y)| x.input_tokens == y.input_tokens)
    );
    let rate = b.len() as f64 / b[b.len() - 1].arrival.as_secs_f64();
    assert!((rate / 40.0 - 1.0).abs() < 0.05, "{rate}");

    let sched = workload(&POISSON.replace(
        "kind = \"poisson\"\nrate-rps = 10",
        "kind = \"schedule\"\npoints = [{ at-s = 0, rate-rps = 0 }, { at-s = 100, rate-rps = 40 }]\n\
         repeat-s = 200",
    ));
    assert_eq!(sched.rate_rps(), Some(20.0));
    let half = sched.with_rate(10.0).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(half.rate_rps(), Some(10.0));
    assert!(
        half.describe()
            .contains("schedule (linear, 2 points, 0..20 req/s, repeat every 200 s)")
    );

    let t = trace_workload("azure-2023", "builtin:azure-2023-conv", "");
    assert_eq!(t.rate_rps(), None);
    let t = t.with_rate(50.0).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.rate_rps(), Some(50.0));
    let r = open_all(&t, 1);
    let rate = (r.len() - 1) as f64 / r[r.len() - 1].arrival.as_secs_f64();
    assert!((rate / 50.0 - 1.0).abs() < 1e-6, "{rate}");

    let e = w.with_rate(-1.0).err().map(|e| e.field().to_owned());
    assert_eq!(e.as_deref(), Some("workload.arrival.rate-rps"));
    let closed = workload(
        "[workload]\nrequests = 5\n[workload.arrival]\nkind = \"closed-loop\"\nclients = 2\n\
         [workload.lengths]\nkind = \"empirical-joint\"\npath = \"builtin:sharegpt\"\n",
    );
    assert_eq!(closed.rate_rps(), None);
    let e = closed.with_rate(1.0).err().map(|e| e.field().to_owned());
    assert_eq!(e.as_deref(), Some("workload.arrival"));
}

#[test]
fn a_million_requests_stream() {
    let w = workload(&POISSON.replace("requests = 2000", "requests = 1000000"));
    let mut g = generator(&w, 3);
    let mut n = 0u64;
    let mut last = SimTime::ZERO;
    while let Some(r) = g.next_open() {
        assert!(r.arrival >= last);
        last = r.arrival;
        n += 1;
    }
    assert_eq!(n, 1_000_000);
    // 10 req/s: 1e6 requests take about 1e5 s.
    assert!((last.as_secs_f64() / 1e5 - 1.0).abs() < 0.01, "{last:?}");
}

#[test]
fn closed_loop_issues_the_budget_at_the_given_times() {
    let w = workload(
        r#"
[workload]
requests = 5
[workload.arrival]
kind = "closed-loop"
clients = 3
think-time-ms = 100
[workload.lengths]
kind = "empirical-joint"
path = "builtin:sharegpt"
"#,
    );
    assert_eq!(w.mode(), ArrivalMode::Closed { clients: 3 });
    let mut g = generator(&w, 9);
    let at = SimTime(42);
    let got: Vec<RequestSpec> = std::iter::from_fn(|| g.next_closed(at)).collect();
    assert_eq!(got.len(), 5);
    assert!(got.iter().all(|r| r.arrival == at));
    assert!(g.think_time() > crate::time::SimDuration::ZERO);
    assert!(
        w.describe().contains("closed loop 3 clients, think 100 ms"),
        "{}",
        w.describe()
    );
}

#[test]
#[should_panic(expected = "next_open on a closed-loop workload")]
fn next_open_on_a_closed_loop_is_a_bug() {
    let w = workload(
        r#"
[workload]
requests = 5
[workload.arrival]
kind = "closed-loop"
clients = 1
[workload.input-tokens]
kind = "fixed"
tokens = 1
[workload.output-tokens]
kind = "fixed"
tokens = 1
"#,
    );
    let _ = generator(&w, 1).next_open();
}
