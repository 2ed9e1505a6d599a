//! Tests of the whole pipeline: TOML -> WorkloadFile -> Workload -> WorkloadGen.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::*;
use crate::rng::Streams;
use crate::time::SimDuration;

/// A scenario with only a workload table, so error paths start with `workload.`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    workload: WorkloadFile,
}

/// Parses TOML, giving `path: message` on error.
fn parse(toml_text: &str) -> Result<WorkloadFile, String> {
    let de = toml::Deserializer::parse(toml_text).map_err(|e| e.to_string())?;
    serde_path_to_error::deserialize::<_, Scenario>(de)
        .map(|s| s.workload)
        .map_err(|e| format!("{}: {}", e.path(), e.inner()))
}

/// Parses and validates; panics with the message on error.
fn workload(toml_text: &str) -> Workload {
    let f = parse(toml_text).unwrap_or_else(|e| panic!("{e}"));
    Workload::from_file(f, Path::new(".")).unwrap_or_else(|e| panic!("{e}"))
}

/// The validation error of a TOML text that parses.
fn invalid(toml_text: &str, base: &Path) -> WorkloadError {
    let f = parse(toml_text).unwrap_or_else(|e| panic!("{e}"));
    match Workload::from_file(f, base) {
        Ok(w) => panic!("accepted: {w:?}"),
        Err(e) => e,
    }
}

fn generator(w: &Workload, seed: u64) -> WorkloadGen {
    WorkloadGen::new(w, &Streams::new(seed)).unwrap_or_else(|e| panic!("{e}"))
}

fn open_all(w: &Workload, seed: u64) -> Vec<RequestSpec> {
    let mut g = generator(w, seed);
    std::iter::from_fn(|| g.next_open()).collect()
}

/// A unique scratch file path for this test process.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xpyd-workload-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    dir.join(name)
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("{e}"));
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap_or_else(|e| panic!("{e}"));
    enc.finish().unwrap_or_else(|e| panic!("{e}"))
}

const POISSON: &str = r#"
[workload]
requests = 2000
[workload.arrival]
kind = "poisson"
rate-rps = 10
[workload.input-tokens]
kind = "lognormal"
mean = 1000.0
std = 500.0
max = 8192
[workload.output-tokens]
kind = "uniform"
min = 16
max = 256
"#;

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

#[test]
fn joint_rows_keep_input_and_output_together() {
    let p = scratch("joint.csv");
    write(&p, b"a,b,c\n10,1,x\n20,2,y\n30,3,z\n");
    let text = format!(
        r#"
[workload]
requests = 500
[workload.arrival]
kind = "constant"
rate-rps = 100
[workload.lengths]
kind = "empirical-joint"
path = "{}"
input-column = "a"
output-column = "b"
"#,
        p.display()
    );
    let w = workload(&text);
    let r = open_all(&w, 4);
    assert!(r.iter().all(|r| r.input_tokens == 10 * r.output_tokens));
    for v in [10, 20, 30] {
        assert!(r.iter().any(|r| r.input_tokens == v));
    }
    // Relative paths resolve against the scenario folder.
    let rel = text.replace(&p.display().to_string(), "joint.csv");
    let f = parse(&rel).unwrap_or_else(|e| panic!("{e}"));
    let dir = p.parent().unwrap_or(Path::new("."));
    assert!(Workload::from_file(f, dir).is_ok());
}

#[test]
fn empirical_file_gzip_is_detected_by_magic_bytes() {
    let p = scratch("lengths.data");
    write(&p, &gzip(b"n\n5\n7\n"));
    let w = workload(&format!(
        r#"
[workload]
requests = 200
[workload.arrival]
kind = "poisson"
rate-rps = 1
[workload.input-tokens]
kind = "empirical"
path = "{}"
column = "n"
[workload.output-tokens]
kind = "empirical"
path = "builtin:azure-2023-code"
"#,
        p.display()
    ));
    let r = open_all(&w, 4);
    assert!(r.iter().all(|r| r.input_tokens == 5 || r.input_tokens == 7));
    assert!(r.iter().any(|r| r.input_tokens == 5) && r.iter().any(|r| r.input_tokens == 7));
}

#[test]
fn malformed_empirical_file_names_file_line_and_column() {
    let p = scratch("bad.csv");
    write(&p, b"n\n5\nfive\n");
    let text = format!(
        r#"
[workload]
requests = 2
[workload.arrival]
kind = "poisson"
rate-rps = 1
[workload.input-tokens]
kind = "empirical"
path = "{}"
column = "n"
[workload.output-tokens]
kind = "fixed"
tokens = 3
"#,
        p.display()
    );
    let w = workload(&text);
    let e = WorkloadGen::new(&w, &Streams::new(1))
        .err()
        .map(|e| e.to_string());
    let e = e.unwrap_or_default();
    assert!(e.starts_with(&format!("{}:3: n: ", p.display())), "{e}");
    let w = workload(&text.replace("column = \"n\"", "column = \"m\""));
    let e = WorkloadGen::new(&w, &Streams::new(1))
        .err()
        .map(|e| e.to_string());
    let e = e.unwrap_or_default();
    assert!(e.starts_with("workload.input-tokens.column: "), "{e}");
}

fn trace_workload(format: &str, path: &str, extra: &str) -> Workload {
    workload(&format!(
        "[workload]\n[workload.trace]\nformat = \"{format}\"\npath = \"{path}\"\n{extra}"
    ))
}

fn check_trace(reqs: &[RequestSpec], rows: usize) {
    assert_eq!(reqs.len(), rows);
    assert_eq!(reqs[0].arrival, SimTime::ZERO);
    assert!(reqs.windows(2).all(|p| p[0].arrival <= p[1].arrival));
    assert!(
        reqs.iter()
            .all(|r| r.input_tokens >= 1 && r.output_tokens >= 1)
    );
}

#[test]
fn builtin_traces_replay_every_row() {
    for (format, name, rows, span_s) in [
        ("azure-2023", "azure-2023-conv", 19_366, 3502.0),
        ("azure-2023", "azure-2023-code", 8_819, 3436.0),
        ("mooncake", "mooncake-conversation", 12_031, 3537.0),
        ("mooncake", "mooncake-synthetic", 3_993, 1022.0),
    ] {
        let w = trace_workload(format, &format!("builtin:{name}"), "");
        let r = open_all(&w, 1);
        check_trace(&r, rows);
        let span = r[rows - 1].arrival.as_secs_f64();
        assert!((span - span_s).abs() < 1.0, "{name}: span {span}");
        assert_eq!(
            r,
            open_all(&w, 99),
            "{name}: a trace does not depend on the seed"
        );
        if format == "mooncake" {
            assert!(r.iter().all(|r| r.hash_block_tokens == 512
                && r.block_hashes.len() == r.input_tokens.div_ceil(512) as usize));
        } else {
            assert!(
                r.iter()
                    .all(|r| r.block_hashes.is_empty() && r.hash_block_tokens == 0)
            );
        }
    }
    let r = open_all(
        &trace_workload("azure-2023", "builtin:azure-2023-conv", ""),
        1,
    );
    assert_eq!((r[0].input_tokens, r[0].output_tokens), (374, 44));
    assert_eq!(r[1].arrival, SimTime(4_314_579_000));
}

#[test]
fn trace_rescaling_cap_and_start() {
    let base = open_all(
        &trace_workload("azure-2023", "builtin:azure-2023-code", ""),
        1,
    );
    let half = open_all(
        &trace_workload("azure-2023", "builtin:azure-2023-code", "time-scale = 0.5"),
        1,
    );
    assert!(base.iter().zip(&half).all(|(a, b)| {
        let want = (a.arrival.as_nanos() as f64 * 0.5).round() as u64;
        b.arrival.as_nanos() == want && a.input_tokens == b.input_tokens
    }));
    let w = trace_workload("mooncake", "builtin:mooncake-synthetic", "rate-rps = 20.0");
    let r = open_all(&w, 1);
    let rate = (r.len() - 1) as f64 / r[r.len() - 1].arrival.as_secs_f64();
    assert!((rate / 20.0 - 1.0).abs() < 1e-6, "rate {rate}");
    let w = workload(
        "[workload]\nrequests = 100\n[workload.trace]\nformat = \"azure-2023\"\n\
         path = \"builtin:azure-2023-code\"\nstart-s = 600\n",
    );
    assert_eq!(w.requests(), Some(100));
    let r = open_all(&w, 1);
    check_trace(&r, 100);
    let first = base
        .iter()
        .position(|b| b.arrival.as_secs_f64() >= 600.0)
        .unwrap_or(0);
    assert_eq!(r[0].input_tokens, base[first].input_tokens);
    assert_eq!(
        r[99].arrival,
        SimTime(base[first + 99].arrival.as_nanos() - base[first].arrival.as_nanos())
    );
    assert!(
        w.describe()
            .starts_with("trace azure-2023 builtin:azure-2023-code"),
        "{}",
        w.describe()
    );
}

#[test]
fn trace_files_on_disk_plain_and_gzip() {
    let jsonl = b"{\"timestamp\": 5, \"input_length\": 513, \"output_length\": 2, \"hash_ids\": [7, 8]}\n\
                  {\"timestamp\": 9, \"input_length\": 3, \"output_length\": 4, \"hash_ids\": [7]}\n";
    let plain = scratch("m.jsonl");
    write(&plain, jsonl);
    let gz = scratch("m.jsonl.gz");
    write(&gz, &gzip(jsonl));
    for p in [&plain, &gz] {
        let r = open_all(&trace_workload("mooncake", &p.display().to_string(), ""), 1);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].block_hashes, vec![7, 8]);
        assert_eq!(r[1].arrival, SimTime(4_000_000));
    }
    let bad = scratch("bad.jsonl");
    write(&bad, b"{\"timestamp\": 5, \"input_length\": 5, \"output_length\": 2}\n{\"timestamp\": 6, \"input_length\": 5, \"output_length\": \"2\"}\n");
    let w = trace_workload("mooncake", &bad.display().to_string(), "");
    let e = WorkloadGen::new(&w, &Streams::new(1))
        .err()
        .map(|e| e.to_string());
    let e = e.unwrap_or_default();
    assert!(
        e.starts_with(&format!("{}:2: output_length: ", bad.display())),
        "{e}"
    );
}

#[test]
fn toml_errors_name_the_field() {
    let cases = [
        // Unknown key at the top and inside tagged tables.
        ("[workload]\nrequest = 5\n", "workload.request"),
        (
            "[workload]\n[workload.arrival]\nkind = \"poisson\"\nrate = 1\n",
            "workload.arrival",
        ),
        (
            "[workload]\n[workload.arrival]\nkind = \"poison\"\nrate-rps = 1\n",
            "workload.arrival.kind",
        ),
        // Wrong types.
        ("[workload]\nrequests = \"many\"\n", "workload.requests"),
        ("[workload]\nrequests = -3\n", "workload.requests"),
        (
            "[workload]\n[workload.trace]\nformat = \"azure\"\npath = \"x\"\n",
            "workload.trace.format",
        ),
        (
            "[workload]\n[workload.trace]\nformat = \"mooncake\"\npath = 3\n",
            "workload.trace.path",
        ),
        (
            "[workload]\n[workload.input-tokens]\nkind = \"fixed\"\ntokens = -1\n",
            "workload.input-tokens",
        ),
    ];
    for (text, path) in cases {
        let e = match parse(text) {
            Ok(f) => panic!("accepted {text}: {f:?}"),
            Err(e) => e,
        };
        assert!(e.starts_with(&format!("{path}: ")), "{text} -> {e}");
    }
    // Inside a tagged table the message names the key and the TOML error its line.
    let e = parse("[workload]\n[workload.arrival]\nkind = \"poisson\"\nrate = 1\n");
    let e = e.err().unwrap_or_default();
    assert!(
        e.contains("unknown field `rate`, expected `rate-rps`"),
        "{e}"
    );
    assert!(e.contains("line 2"), "{e}");
}

#[test]
fn validation_errors_name_the_field() {
    let here = Path::new(".");
    let syn = |arrival: &str, lengths: &str| {
        format!("[workload]\nrequests = 10\n[workload.arrival]\n{arrival}\n{lengths}")
    };
    let fixed = "[workload.input-tokens]\nkind = \"fixed\"\ntokens = 5\n\
                 [workload.output-tokens]\nkind = \"fixed\"\ntokens = 5\n";
    let cases: Vec<(String, &str)> = vec![
        (syn("kind = \"poisson\"\nrate-rps = -2", fixed), "workload.arrival.rate-rps"),
        (syn("kind = \"gamma\"\nrate-rps = 2\ncv = 0", fixed), "workload.arrival.cv"),
        (syn("kind = \"constant\"\nrate-rps = 0", fixed), "workload.arrival.rate-rps"),
        (
            syn(
                "kind = \"poisson\"\nrate-rps = 2",
                "[workload.input-tokens]\nkind = \"uniform\"\nmin = 9\nmax = 3\n\
                 [workload.output-tokens]\nkind = \"fixed\"\ntokens = 5\n",
            ),
            "workload.input-tokens.max",
        ),
        (
            syn(
                "kind = \"poisson\"\nrate-rps = 2",
                "[workload.input-tokens]\nkind = \"fixed\"\ntokens = 5\n",
            ),
            "workload.output-tokens",
        ),
        (
            syn(
                "kind = \"poisson\"\nrate-rps = 2",
                "[workload.input-tokens]\nkind = \"fixed\"\ntokens = 5\n\
                 [workload.output-tokens]\nkind = \"fixed\"\ntokens = 0\n",
            ),
            "workload.output-tokens.tokens",
        ),
        (
            syn(
                "kind = \"poisson\"\nrate-rps = 2",
                &format!(
                    "{fixed}[workload.lengths]\nkind = \"empirical-joint\"\npath = \"builtin:sharegpt\"\n"
                ),
            ),
            "workload.input-tokens",
        ),
        (
            syn(
                "kind = \"poisson\"\nrate-rps = 2",
                "[workload.lengths]\nkind = \"empirical-joint\"\npath = \"no/such/file.csv\"\n",
            ),
            "workload.lengths.path",
        ),
        (
            syn(
                "kind = \"poisson\"\nrate-rps = 2",
                "[workload.lengths]\nkind = \"empirical-joint\"\npath = \"builtin:mooncake-synthetic\"\n",
            ),
            "workload.lengths.path",
        ),
        ("[workload]\n[workload.arrival]\nkind = \"poisson\"\nrate-rps = 1\n".into(), "workload.requests"),
        (format!("[workload]\nrequests = 3\n{fixed}"), "workload.arrival"),
        ("[workload]\nrequests = 0\n".into(), "workload.requests"),
        (
            "[workload]\n[workload.arrival]\nkind = \"poisson\"\nrate-rps = 1\n\
             [workload.trace]\nformat = \"mooncake\"\npath = \"builtin:mooncake-synthetic\"\n"
                .into(),
            "workload.arrival",
        ),
        (
            "[workload]\n[workload.trace]\nformat = \"mooncake\"\npath = \"missing.jsonl\"\n".into(),
            "workload.trace.path",
        ),
        (
            "[workload]\n[workload.trace]\nformat = \"mooncake\"\npath = \"builtin:azure-2023-conv\"\n"
                .into(),
            "workload.trace.format",
        ),
        (
            "[workload]\n[workload.trace]\nformat = \"mooncake\"\npath = \"builtin:sharegpt\"\n"
                .into(),
            "workload.trace.path",
        ),
        (
            "[workload]\n[workload.trace]\nformat = \"azure-2023\"\npath = \"builtin:azure-2023-conv\"\n\
             time-scale = 2.0\nrate-rps = 3.0\n"
                .into(),
            "workload.trace.rate-rps",
        ),
        (
            "[workload]\n[workload.trace]\nformat = \"azure-2023\"\npath = \"builtin:azure-2023-conv\"\n\
             time-scale = -1.0\n"
                .into(),
            "workload.trace.time-scale",
        ),
        (
            "[workload]\n[workload.trace]\nformat = \"azure-2023\"\npath = \"builtin:azure-2023-conv\"\n\
             start-s = -1.0\n"
                .into(),
            "workload.trace.start-s",
        ),
    ];
    for (text, field) in cases {
        let e = invalid(&text, here);
        assert_eq!(e.field(), field, "{text} -> {e}");
        assert!(e.to_string().starts_with(&format!("{field}: ")), "{e}");
    }
    // A missing file's error names the file.
    let e = invalid(
        "[workload]\n[workload.trace]\nformat = \"mooncake\"\npath = \"missing.jsonl\"\n",
        Path::new("/nonexistent-dir"),
    );
    assert!(
        e.to_string().contains("/nonexistent-dir/missing.jsonl"),
        "{e}"
    );
    // start-s past the end is found when the trace is read.
    let w = trace_workload("azure-2023", "builtin:azure-2023-code", "start-s = 1e6");
    let e = WorkloadGen::new(&w, &Streams::new(1)).err();
    assert_eq!(
        e.as_ref().map(WorkloadError::field),
        Some("workload.trace.start-s")
    );
}

#[test]
fn workload_file_round_trips_through_toml_and_json() {
    #[derive(serde::Serialize)]
    struct Out<'a> {
        workload: &'a WorkloadFile,
    }
    let texts = [
        POISSON.to_owned(),
        format!("{POISSON}[workload.prefix]\nkind = \"shared-prompt\"\nprompts = 2\ntokens = 64\n"),
        "[workload]\nrequests = 9\n[workload.arrival]\nkind = \"schedule\"\n\
         points = [{ at-s = 0, rate-rps = 1 }, { at-s = 5, rate-rps = 3 }]\n\
         interpolation = \"step\"\nrepeat-s = 10\n[workload.lengths]\n\
         kind = \"empirical-joint\"\npath = \"builtin:sharegpt\"\n"
            .to_owned(),
        "[workload]\n[workload.trace]\nformat = \"azure-2023\"\npath = \"x.csv\"\nstart-s = 3\n"
            .to_owned(),
    ];
    for text in texts {
        let f = parse(&text).unwrap_or_else(|e| panic!("{e}"));
        let back = toml::to_string(&Out { workload: &f }).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parse(&back), Ok(f.clone()), "{back}");
        let json = serde_json::to_string(&f).unwrap_or_else(|e| panic!("{e}"));
        let again: WorkloadFile = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again, f);
    }
}

const SESSIONS: &str = r#"
[workload]
requests = 6000
[workload.arrival]
kind = "poisson"
rate-rps = 2
[workload.input-tokens]
kind = "fixed"
tokens = 100
[workload.output-tokens]
kind = "fixed"
tokens = 50
[workload.sessions]
turns-mean = 3.0
turn-gap-s = 5.0
block-tokens = 64
"#;

#[test]
fn sessions_resend_the_context_and_share_its_blocks() {
    let w = workload(SESSIONS);
    assert_eq!(w.rate_rps(), Some(6.0));
    assert!(
        w.describe()
            .ends_with("; sessions of 3 turns on average, 5 s apart"),
        "{}",
        w.describe()
    );
    let r = open_all(&w, 12);
    assert_eq!(r, open_all(&w, 12));
    assert_eq!(r.len(), 6000);
    assert!(r.windows(2).all(|p| p[0].arrival <= p[1].arrival));
    // Turn k sends 100 + 150 (k - 1) tokens: the previous prompt, answer and a new message.
    assert!(r.iter().all(|x| (x.input_tokens - 100) % 150 == 0));
    assert!(r.iter().all(|x| x.hash_block_tokens == 64
        && x.block_hashes.len() == x.input_tokens.div_ceil(64) as usize));
    let first = r.iter().filter(|x| x.input_tokens == 100).count() as f64;
    assert!((first / r.len() as f64 - 1.0 / 3.0).abs() < 0.02, "{first}");
    let rate = r.len() as f64 / r[r.len() - 1].arrival.as_secs_f64();
    assert!((rate / 6.0 - 1.0).abs() < 0.05, "{rate}");
    // Every later turn starts with the full blocks of an earlier turn's prompt.
    for (i, x) in r.iter().enumerate().take(800) {
        if x.input_tokens == 100 {
            continue;
        }
        let prev = x.input_tokens - 150;
        let n = (prev / 64) as usize;
        let found = r[..i].iter().rev().any(|y| {
            y.input_tokens == prev
                && y.block_hashes[..n] == x.block_hashes[..n]
                && y.arrival <= x.arrival
        });
        assert!(found, "request {i} continues no earlier turn");
        // The rest of its blocks are new.
        assert!(
            r[..i]
                .iter()
                .all(|y| !y.block_hashes.contains(&x.block_hashes[n]))
        );
    }
}

#[test]
fn sessions_respect_max_input_and_combine_with_prefixes() {
    let capped = workload(&SESSIONS.replace("block-tokens = 64", "max-input-tokens = 400"));
    let r = open_all(&capped, 1);
    assert!(r.iter().all(|x| x.input_tokens <= 400));
    assert!(r.iter().any(|x| x.input_tokens == 400));
    assert!(r.iter().all(|x| x.hash_block_tokens == 512));
    let with_prefix = workload(&format!(
        "{}[workload.prefix]\nkind = \"shared-prompt\"\nprompts = 1\ntokens = 128\n\
         block-tokens = 64\n",
        SESSIONS.replace("block-tokens = 64\n", "")
    ));
    let r = open_all(&with_prefix, 1);
    // Turn 1: 128 + 100 tokens; every request starts with the prompt's two blocks.
    assert!(r.iter().all(|x| (x.input_tokens - 228) % 150 == 0));
    assert!(
        r.iter()
            .all(|x| x.block_hashes[..2] == r[0].block_hashes[..2])
    );
    let e = invalid(
        &format!(
            "{SESSIONS}[workload.prefix]\nkind = \"shared-prompt\"\nprompts = 1\ntokens = 8\n"
        ),
        Path::new("."),
    );
    assert_eq!(e.field(), "workload.sessions.block-tokens");
    let e = invalid(
        &SESSIONS.replace(
            "kind = \"poisson\"\nrate-rps = 2",
            "kind = \"closed-loop\"\nclients = 4",
        ),
        Path::new("."),
    );
    assert_eq!(e.field(), "workload.sessions");
    let faster = with_prefix
        .with_rate(12.0)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(faster.rate_rps(), Some(12.0));
}

#[test]
fn uncapped_sessions_end_at_the_token_limit() {
    // r18: without max-input-tokens a conversation's prompt grew with every turn; with
    // 6M-token messages the second turn (12M + 50) fits 2^24, the third does not.
    let big = SESSIONS
        .replace("requests = 6000", "requests = 300")
        .replace("tokens = 100", "tokens = 6000000")
        .replace("turns-mean = 3.0", "turns-mean = 50.0")
        .replace("block-tokens = 64", "block-tokens = 65536");
    let r = open_all(&workload(&big), 3);
    assert_eq!(r.len(), 300);
    assert!(
        r.iter()
            .all(|x| x.input_tokens <= crate::limits::MAX_TOKENS)
    );
    assert!(
        r.iter().any(|x| x.input_tokens == 12_000_050),
        "no second turn"
    );
    assert!(
        r.iter()
            .all(|x| [6_000_000, 12_000_050].contains(&x.input_tokens))
    );
}

#[test]
fn warmup_requests_are_issued_on_top_and_timeout_is_validated() {
    let text = POISSON.replace(
        "requests = 2000",
        "requests = 2000\nwarmup-requests = 50\ntimeout-s = 2.5",
    );
    let w = workload(&text);
    assert_eq!(w.requests(), Some(2000));
    assert_eq!(w.warmup_requests(), 50);
    assert_eq!(w.timeout(), Some(SimDuration::from_secs_f64(2.5)));
    let all = open_all(&w, 1);
    assert_eq!(all.len(), 2050, "warm-up requests come on top");
    // The same stream: warm-up is the first 50 of the plain sequence of 2050.
    let plain = workload(&POISSON.replace("requests = 2000", "requests = 2050"));
    assert_eq!(all, open_all(&plain, 1));
    assert!(
        w.describe()
            .ends_with("; 50 warm-up requests first; timeout 2.5 s")
    );
    // Defaults: no warm-up, no timeout; the rate setter keeps both.
    let d = workload(POISSON);
    assert_eq!((d.warmup_requests(), d.timeout()), (0, None));
    let r = w.with_rate(3.0).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((r.warmup_requests(), r.timeout()), (50, w.timeout()));
    // A trace's cap counts measured requests; warm-up records are replayed first.
    let t = workload(
        "[workload]\nrequests = 10\nwarmup-requests = 5\n[workload.trace]\nformat = \"azure-2023\"\npath = \"builtin:azure-2023-conv\"\n",
    );
    assert_eq!(open_all(&t, 1).len(), 15);
    for bad in ["0", "-2", "86401", "nan", "inf"] {
        let text = POISSON.replace(
            "requests = 2000",
            &format!("requests = 2000\ntimeout-s = {bad}"),
        );
        let e = invalid(&text, Path::new(".")).to_string();
        assert!(e.starts_with("workload.timeout-s: "), "{bad}: {e}");
        assert!(e.contains("(0, 86400]"), "{e}");
    }
}

#[test]
fn jitter_on_fixed_lengths_moves_only_its_own_stream() {
    let text = |jitter: &str| {
        format!(
            "[workload]\nrequests = 500\n[workload.arrival]\nkind = \"closed-loop\"\nclients = 4\n\
             [workload.input-tokens]\nkind = \"fixed\"\ntokens = 1000\n{jitter}\n\
             [workload.output-tokens]\nkind = \"fixed\"\ntokens = 100\njitter = 0.1\n"
        )
    };
    let closed = |w: &Workload| {
        let mut g = generator(w, 4);
        std::iter::from_fn(|| g.next_closed(SimTime::ZERO)).collect::<Vec<_>>()
    };
    let plain = closed(&workload(&text("")));
    let jittered = closed(&workload(&text("jitter = 0.05")));
    assert!(plain.iter().all(|r| r.input_tokens == 1000));
    assert!(
        jittered
            .iter()
            .all(|r| (950..=1050).contains(&r.input_tokens))
    );
    // The output lengths come from their own stream: unchanged.
    let out = |v: &[RequestSpec]| v.iter().map(|r| r.output_tokens).collect::<Vec<_>>();
    assert_eq!(out(&plain), out(&jittered));
    assert!(out(&plain).iter().all(|&o| (90..=110).contains(&o)));
    assert!(
        workload(&text("jitter = 0.05"))
            .describe()
            .contains("input fixed 1000 tok ±5%; output fixed 100 tok ±10%")
    );
}
