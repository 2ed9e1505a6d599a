//! Telemetry in and out (issue 20, items 3 and 4): `xpyd run --openmetrics`,
//! `xpyd workload from-prometheus` and `xpyd workload from-log`.
//!
//! - The round trips: a simulated vLLM PD run's OpenMetrics file (`from-prometheus`) and
//!   its request log (`from-log` on `requests.csv`), imported, give back its arrival rate
//!   and length distributions within 2%.
//! - The OpenMetrics files are well formed (every family declared before use, histograms
//!   cumulative with `+Inf == _count`, time order per series, `# EOF` last), identical
//!   for the same seed, and `promtool` imports them where it is installed.
//! - Request logs (JSONL, CSV) become traces the scenario replays; bad inputs exit 2
//!   naming the file, line and field.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use xpyd_sim::rng::Streams;
use xpyd_sim::workload::{Workload, WorkloadFile, WorkloadGen};

use crate::common::{SMALL, stderr, stdout, tmpdir, write, xpyd};

/// The deployment of the round trip: vLLM PD, one prefill and two decode instances.
const PD_VLLM: &str = r#"
name = "telemetry-round-trip"
seed = 11
[model]
id = "qwen3-8b"
[hardware]
gpu = "h100"
[deployment]
backend = "vllm"
[deployment.prefill]
replicas = 1
tp = 1
[deployment.decode]
replicas = 2
tp = 1
"#;

/// Its workload: Poisson 8 req/s, log-normal lengths.
const WORKLOAD: &str = r#"
[workload]
requests = 4000
[workload.arrival]
kind = "poisson"
rate-rps = 8.0
[workload.input-tokens]
kind = "lognormal"
mean = 800.0
std = 400.0
max = 8000
[workload.output-tokens]
kind = "lognormal"
mean = 120.0
std = 60.0
max = 1000
"#;

/// `requests.csv` as (arrival s, input tokens, output tokens) of completed requests.
fn completed(dir: &Path) -> Vec<(f64, u32, u32)> {
    let text = std::fs::read_to_string(dir.join("requests.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let (a, i, o, out) = (
        col("arrival_s"),
        col("input_tokens"),
        col("output_tokens"),
        col("outcome"),
    );
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|c| c[out] == "completed")
        .map(|c| {
            (
                c[a].parse().unwrap(),
                c[i].parse().unwrap(),
                c[o].parse().unwrap(),
            )
        })
        .collect()
}

/// Empirical CDF of `v` at `x`.
fn cdf(v: &[u32], x: u32) -> f64 {
    v.iter().filter(|&&y| y <= x).count() as f64 / v.len() as f64
}

fn mean(v: &[u32]) -> f64 {
    v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len() as f64
}

/// Runs `xpyd run` on `scenario` into `out` with `flags`, asserting success.
fn run(scenario: &Path, out: &Path, flags: &[&str]) {
    let mut args = vec![
        "run",
        scenario.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--no-report",
        "--no-baseline",
    ];
    args.extend_from_slice(flags);
    let o = xpyd(&args);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// The done-when of issue 20: export, import, compare.
#[test]
fn openmetrics_round_trip_reproduces_rate_and_lengths() {
    let dir = tmpdir("telemetry-round-trip");
    let sc = write(&dir, "pd.toml", &format!("{PD_VLLM}{WORKLOAD}"));
    let out = dir.join("run");
    run(
        &sc,
        &out,
        &["--openmetrics", "--openmetrics-interval-s", "2"],
    );
    let om = out.join("openmetrics.txt");
    check_openmetrics(&om);

    let section = dir.join("workload.toml");
    let o = xpyd(&[
        "workload",
        "from-prometheus",
        om.to_str().unwrap(),
        "--out",
        section.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let notes = stdout(&o);
    assert!(notes.contains("vllm:request_success_total"), "{notes}");
    assert!(notes.contains("vllm:request_prompt_tokens"), "{notes}");

    let orig = completed(&out);
    assert_eq!(orig.len(), 4000, "every request completes");
    let text = std::fs::read_to_string(&section).unwrap();
    #[derive(serde::Deserialize)]
    struct Doc {
        workload: WorkloadFile,
    }
    let doc: Doc = toml::from_str(&text).unwrap();
    let w = doc.workload;
    assert_eq!(w.requests, Some(4000), "{text}");
    // Arrival rate: the schedule's mean rate over its span against the run's.
    let Some(xpyd_sim::workload::ArrivalFile::Schedule { points, .. }) = &w.arrival else {
        panic!("a schedule: {text}");
    };
    let step = points[1].at_s - points[0].at_s;
    let span = points.len() as f64 * step;
    let got: f64 = points.iter().map(|p| p.rate_rps * step).sum::<f64>() / span;
    let last = orig.iter().map(|r| r.0).fold(0.0, f64::max);
    let want = orig.len() as f64 / last;
    assert!((got - want).abs() <= 0.02 * want, "rate {got} vs {want}");
    // Over time too: 125 s windows (boundary effects of the ~s latency make this looser).
    for k in 0..4 {
        let (a, b) = (125.0 * f64::from(k), 125.0 * f64::from(k + 1));
        let arrived = orig.iter().filter(|r| r.0 >= a && r.0 < b).count() as f64;
        let sched: f64 = points
            .iter()
            .filter(|p| p.at_s >= a && p.at_s < b)
            .map(|p| p.rate_rps * step)
            .sum();
        assert!(
            (sched - arrived).abs() <= 0.05 * arrived,
            "[{a}, {b}) s: {sched} vs {arrived}"
        );
    }

    // Lengths: 100,000 draws of the imported distributions against the run's lengths.
    let w = Workload::from_file(
        WorkloadFile {
            requests: Some(100_000),
            ..w
        },
        &dir,
    )
    .unwrap();
    let mut g = WorkloadGen::new(&w, &Streams::new(3)).unwrap();
    let (mut gi, mut go) = (Vec::new(), Vec::new());
    while let Some(r) = g.next_open() {
        gi.push(r.input_tokens);
        go.push(r.output_tokens);
    }
    assert_eq!(gi.len(), 100_000);
    let oi: Vec<u32> = orig.iter().map(|r| r.1).collect();
    let oo: Vec<u32> = orig.iter().map(|r| r.2).collect();
    let bounds = xpyd_reports::openmetrics::buckets_1_2_5(40_960);
    for (name, a, b) in [("input", &gi, &oi), ("output", &go, &oo)] {
        let (ma, mb) = (mean(a), mean(b));
        assert!((ma - mb).abs() <= 0.02 * mb, "{name} mean {ma} vs {mb}");
        for x in &bounds {
            let x = *x as u32;
            let (ca, cb) = (cdf(a, x), cdf(b, x));
            assert!((ca - cb).abs() <= 0.02, "{name} CDF at {x}: {ca} vs {cb}");
        }
    }
}

/// Structural check of an OpenMetrics file, by its own small parser: every sample's
/// family has `# TYPE` before it and families are contiguous; per series, timestamps
/// never decrease and counters never fall; histogram buckets are cumulative in `le`
/// order with `+Inf` equal to `_count` at every timestamp; `# EOF` is the last line.
fn check_openmetrics(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"), "ends with # EOF");
    assert!(text.ends_with("# EOF\n"));
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut current: Option<String> = None;
    let mut last: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    // (family, labels without le, timestamp) -> (le, count) in file order, and _count.
    let mut buckets: BTreeMap<(String, String, String), Vec<(f64, f64)>> = BTreeMap::new();
    let mut counts: BTreeMap<(String, String, String), f64> = BTreeMap::new();
    let mut samples = 0usize;
    for (n, line) in lines.iter().enumerate().take(lines.len() - 1) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, ty) = rest.split_once(' ').unwrap();
            assert!(
                ["gauge", "counter", "histogram"].contains(&ty),
                "{n}: {line}"
            );
            assert!(
                types.insert(name.to_owned(), ty.to_owned()).is_none(),
                "{n}: declared twice"
            );
            if let Some(c) = current.replace(name.to_owned()) {
                done.insert(c);
            }
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        assert!(!line.starts_with('#'), "{n}: unexpected comment {line}");
        let (series, rest) = line
            .split_once("} ")
            .unwrap_or_else(|| panic!("{n}: {line}"));
        let (name, labels) = series.split_once('{').unwrap();
        let mut parts = rest.split(' ');
        let v: f64 = parts.next().unwrap().parse().unwrap();
        let t: f64 = parts.next().unwrap().parse().unwrap();
        assert!(parts.next().is_none(), "{n}: {line}");
        let family = ["_total", "_bucket", "_count", "_sum"]
            .iter()
            .filter_map(|s| name.strip_suffix(s))
            .find(|f| types.contains_key(*f))
            .unwrap_or(name);
        let ty = types
            .get(family)
            .unwrap_or_else(|| panic!("{n}: {name} before its # TYPE"));
        assert_eq!(
            current.as_deref(),
            Some(family),
            "{n}: family {family} not contiguous"
        );
        assert!(!done.contains(family));
        match ty.as_str() {
            "counter" => assert!(name.ends_with("_total"), "{n}: {name}"),
            "gauge" => assert_eq!(name, family),
            _ => assert!(name != family, "{n}: {name}"),
        }
        let key = format!("{name}{{{labels}}}");
        if let Some((t0, v0)) = last.insert(key.clone(), (t, v)) {
            assert!(t >= t0, "{n}: time goes back in {key}");
            if ty != "gauge" && !name.ends_with("_sum") {
                assert!(v >= v0, "{n}: counter falls in {key}");
            }
        }
        if ty == "histogram" {
            let ts = format!("{t}");
            if name.ends_with("_bucket") {
                let (rest, le) = labels.rsplit_once(",le=\"").unwrap();
                let le = le.trim_end_matches('"');
                let le: f64 = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap()
                };
                buckets
                    .entry((family.to_owned(), rest.to_owned(), ts))
                    .or_default()
                    .push((le, v));
            } else if name.ends_with("_count") {
                counts.insert((family.to_owned(), labels.to_owned(), ts), v);
            }
        }
        samples += 1;
    }
    assert!(samples > 0);
    assert!(!buckets.is_empty());
    for (k, b) in &buckets {
        assert!(
            b.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
            "{k:?}: {b:?}"
        );
        let (le, inf) = b[b.len() - 1];
        assert!(le.is_infinite(), "{k:?} has no +Inf bucket");
        assert_eq!(counts.get(k), Some(&inf), "{k:?}: +Inf != _count");
    }
}

/// SGLang's names, byte-identical files for the same seed, and promtool's import.
#[test]
fn openmetrics_is_deterministic_well_formed_and_imports() {
    let dir = tmpdir("telemetry-om-sglang");
    let sc = write(&dir, "small.toml", SMALL);
    let files: Vec<PathBuf> = (0..2)
        .map(|k| {
            let f = dir.join(format!("m{k}.txt"));
            let flags = [
                "--openmetrics",
                f.to_str().unwrap(),
                "--openmetrics-start",
                "2026-03-01T00:00:00Z",
                "--openmetrics-interval-s",
                "1",
            ];
            run(&sc, &dir.join(format!("out{k}")), &flags);
            f
        })
        .collect();
    let a = std::fs::read(&files[0]).unwrap();
    assert_eq!(
        a,
        std::fs::read(&files[1]).unwrap(),
        "same seed, same bytes"
    );
    check_openmetrics(&files[0]);
    let text = String::from_utf8(a).unwrap();
    for name in [
        "# TYPE sglang:num_running_reqs gauge",
        "# TYPE sglang:num_queue_reqs gauge",
        "# TYPE sglang:token_usage gauge",
        "# TYPE sglang:num_requests counter",
        "# TYPE sglang:time_to_first_token_seconds histogram",
        "# TYPE sglang:prompt_tokens_histogram histogram",
        "role=\"prefill\"",
        "role=\"decode\"",
        "model_name=\"Qwen/Qwen3-8B\"",
    ] {
        assert!(text.contains(name), "{name}");
    }
    // Starts at the chosen time: 2026-03-01T00:00:00Z is 1772323200 s.
    assert!(text.contains(" 1772323200.000\n"));
    assert!(!text.contains("vllm:"));

    // promtool: the importer Prometheus ships.
    let promtool = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("promtool"))
            .find(|p| p.is_file())
    });
    let Some(promtool) = promtool else {
        eprintln!("skipped: promtool is not on PATH (Debian package `prometheus` provides it)");
        return;
    };
    let tsdb = dir.join("tsdb");
    let o = std::process::Command::new(promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&files[0])
        .arg(&tsdb)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "promtool: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        std::fs::read_dir(&tsdb).unwrap().next().is_some(),
        "a block written"
    );
}

/// A Prometheus range-query export (a response, then an array of one), two instances,
/// one counter reset, a prompt histogram and prefix-cache counters: rates per step,
/// histogram lengths shifted by the shared prompt, defaults named.
#[test]
fn from_prometheus_json_export() {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/telemetry/vllm-range.json");
    let o = xpyd(&["workload", "from-prometheus", fixture.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    #[derive(serde::Deserialize)]
    struct Doc {
        workload: WorkloadFile,
    }
    let w = toml::from_str::<Doc>(&text).unwrap().workload;
    assert_eq!(w.requests, Some(490), "{text}");
    let Some(xpyd_sim::workload::ArrivalFile::Schedule { points, .. }) = &w.arrival else {
        panic!("{text}");
    };
    let got: Vec<(f64, f64)> = points.iter().map(|p| (p.at_s, p.rate_rps)).collect();
    // Instance 1: +60, +120, reset to 10, +60; instance 2: +60 a minute.
    assert_eq!(
        got,
        vec![(0.0, 2.0), (60.0, 3.0), (120.0, 1.166667), (180.0, 2.0)]
    );
    // Hit rate 25% of a 200-token mean prompt: 48 tokens shared (3 blocks of 16).
    assert_eq!(
        w.prefix,
        Some(xpyd_sim::workload::PrefixFile::SharedPrompt {
            prompts: 1,
            tokens: 48,
            zipf_s: None,
            fraction: None,
            block_tokens: Some(16),
            order: None,
        })
    );
    assert_eq!(
        w.input_tokens,
        Some(xpyd_sim::workload::LengthFile::Histogram {
            upper_bounds: vec![52, 152, 452],
            counts: vec![30, 60, 100],
            mean: Some(152.0),
        })
    );
    assert_eq!(
        w.output_tokens,
        Some(xpyd_sim::workload::LengthFile::Fixed {
            tokens: 256,
            jitter: None
        })
    );
    assert!(text.contains("default fixed (256)"), "{text}");
    // Same file, same section.
    assert_eq!(
        stdout(&xpyd(&[
            "workload",
            "from-prometheus",
            fixture.to_str().unwrap()
        ])),
        text
    );
}

/// JSONL (OpenAI responses with `created` and `usage`) and CSV (a gateway's spend log
/// with RFC 3339 `startTime`) become Mooncake traces a scenario replays.
#[test]
fn from_log_jsonl_and_csv() {
    let dir = tmpdir("telemetry-from-log");
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/telemetry");
    // JSONL: sorted by time, rebased, whole seconds noted, the 0-token output kept.
    let section = dir.join("wl.toml");
    let o = xpyd(&[
        "workload",
        "from-log",
        fx.join("gateway.jsonl").to_str().unwrap(),
        "--out",
        section.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let notes = stdout(&o);
    assert!(notes.contains("5 requests from a JSONL log (fields created, usage.prompt_tokens, usage.completion_tokens; timestamps in seconds)"), "{notes}");
    assert!(notes.contains("whole seconds"), "{notes}");
    let trace = std::fs::read_to_string(dir.join("wl.trace.jsonl")).unwrap();
    assert_eq!(
        trace,
        "{\"timestamp\": 0.000000, \"input_length\": 812, \"output_length\": 143}\n\
         {\"timestamp\": 0.000000, \"input_length\": 95, \"output_length\": 401}\n\
         {\"timestamp\": 1000.000000, \"input_length\": 2048, \"output_length\": 12}\n\
         {\"timestamp\": 2000.000000, \"input_length\": 1500, \"output_length\": 256}\n\
         {\"timestamp\": 3000.000000, \"input_length\": 377, \"output_length\": 0}\n"
    );
    let text = std::fs::read_to_string(&section).unwrap();
    assert!(text.contains("path = \"wl.trace.jsonl\""), "{text}");
    assert!(text.contains("format = \"mooncake\""), "{text}");
    // The section replays in a scenario next to it.
    let body = SMALL.split("[workload]").next().unwrap();
    let sc = write(&dir, "replay.toml", &format!("{body}\n{}", text));
    let out = dir.join("replay");
    run(&sc, &out, &[]);
    let done = completed(&out);
    assert_eq!(done.len(), 5);
    let mut inputs: Vec<u32> = done.iter().map(|r| r.1).collect();
    inputs.sort_unstable();
    assert_eq!(inputs, vec![95, 377, 812, 1500, 2048]);

    // CSV: RFC 3339 times to the ms, a quoted "2,000" that is not a number: an error
    // naming line 4 and the column, or skipped with --skip-invalid.
    let csv = fx.join("litellm.csv");
    let o = xpyd(&[
        "workload",
        "from-log",
        csv.to_str().unwrap(),
        "--trace-out",
        dir.join("c.jsonl").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("litellm.csv:4: prompt_tokens: `\"2,000\"` is not a whole number"),
        "{e}"
    );
    let o = xpyd(&[
        "workload",
        "from-log",
        csv.to_str().unwrap(),
        "--skip-invalid",
        "--trace-out",
        dir.join("c.jsonl").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("1 records skipped"), "{text}");
    assert!(
        text.contains(
            "fields startTime, prompt_tokens, completion_tokens; timestamps in calendar time"
        ),
        "{text}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("c.jsonl")).unwrap(),
        "{\"timestamp\": 0.000000, \"input_length\": 512, \"output_length\": 128}\n\
         {\"timestamp\": 500.000000, \"input_length\": 1024, \"output_length\": 64}\n\
         {\"timestamp\": 1750.000000, \"input_length\": 300, \"output_length\": 300}\n"
    );
    let abs = std::fs::canonicalize(dir.join("c.jsonl")).unwrap();
    assert!(
        text.contains(&format!("path = \"{}\"", abs.display())),
        "{text}"
    );
}

/// The request-log round trip: a simulated run's own request log (`requests.csv`, read
/// by `from-log` with `--timestamp-field arrival_s`) becomes a trace whose replay, in the
/// same deployment, reproduces the run's arrival rate and mean lengths within 2% and its
/// length distributions within 2 points of CDF.
#[test]
fn from_log_round_trip_of_a_runs_request_log() {
    let dir = tmpdir("telemetry-log-round-trip");
    let first = dir.join("first");
    let sc = write(&dir, "first.toml", &format!("{PD_VLLM}{WORKLOAD}"));
    run(&sc, &first, &["--requests", "1500"]);
    let section = dir.join("wl.toml");
    let o = xpyd(&[
        "workload",
        "from-log",
        first.join("requests.csv").to_str().unwrap(),
        "--timestamp-field",
        "arrival_s",
        "--out",
        section.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(
            "1500 requests from a CSV log (fields arrival_s, input_tokens, output_tokens"
        ),
        "{}",
        stdout(&o)
    );
    let text = std::fs::read_to_string(&section).unwrap();
    let sc2 = write(&dir, "second.toml", &format!("{PD_VLLM}\n{text}"));
    let second = dir.join("second");
    run(&sc2, &second, &[]);
    let (a, b) = (completed(&first), completed(&second));
    assert!(a.len() > 1000, "{}", a.len());
    let rate = |v: &[(f64, u32, u32)]| {
        let last = v.iter().map(|r| r.0).fold(0.0, f64::max);
        v.len() as f64 / last
    };
    let (ra, rb) = (rate(&a), rate(&b));
    assert!((ra - rb).abs() <= 0.02 * ra, "rate {ra} vs {rb}");
    for (name, pick) in [
        (
            "input",
            (|r: &(f64, u32, u32)| r.1) as fn(&(f64, u32, u32)) -> u32,
        ),
        ("output", |r: &(f64, u32, u32)| r.2),
    ] {
        let va: Vec<u32> = a.iter().map(pick).collect();
        let vb: Vec<u32> = b.iter().map(pick).collect();
        let (ma, mb) = (mean(&va), mean(&vb));
        assert!((ma - mb).abs() <= 0.02 * ma, "{name} mean {ma} vs {mb}");
        for x in [100, 200, 400, 800, 1600, 3200] {
            let (ca, cb) = (cdf(&va, x), cdf(&vb, x));
            assert!((ca - cb).abs() <= 0.02, "{name} CDF at {x}: {ca} vs {cb}");
        }
    }
}

/// Malformed inputs exit 2 with the file, the line (or JSON path) and the field.
#[test]
fn telemetry_errors_name_file_line_and_field() {
    let dir = tmpdir("telemetry-errors");
    let cases: [(&str, &str, &[&str], &[&str]); 9] = [
        (
            "bad.prom",
            "# TYPE vllm:request_success counter\nvllm:request_success_total{a=\"1\"} 1 1000\nvllm:request_success_total{a=\"1\"} x 2000\n",
            &["from-prometheus"],
            &["bad.prom:3: vllm:request_success_total: `x` is not a number"],
        ),
        (
            "mixed.prom",
            "vllm:request_success_total 1 1000\nvllm:request_success_total 2\n",
            &["from-prometheus"],
            &["mixed.prom:2: timestamp: missing"],
        ),
        (
            "rate.json",
            r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"instance":"a"},"values":[[1,"1"]]}]}}"#,
            &["from-prometheus"],
            &["rate.json:0: document 1: data.result[0].metric: no __name__"],
        ),
        (
            "failed.json",
            r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#,
            &["from-prometheus"],
            &["failed.json:0: document 1: status: `error` (error: parse error)"],
        ),
        (
            "value.json",
            r#"[{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"x"},"values":[[1,"1"],[2,"one"]]}]}}]"#,
            &["from-prometheus"],
            &["value.json:0: document 1[0]: data.result[0].values[1]: `one` is not a number"],
        ),
        (
            "nocounter.prom",
            "up 1 1000\nup 1 2000\n",
            &["from-prometheus"],
            &["nocounter.prom:0: -: no request counter increases over time"],
        ),
        (
            "log.jsonl",
            "{\"created\": 1, \"usage\": {\"prompt_tokens\": 5, \"completion_tokens\": 2}}\n{\"created\": 2, \"usage\": {\"prompt_tokens\": 5}}\n",
            &["from-log"],
            &["log.jsonl:2: usage.completion_tokens: missing"],
        ),
        (
            "notjson.jsonl",
            "{\"created\": 1, \"usage\": {\"prompt_tokens\": 5, \"completion_tokens\": 2}}\n{oops\n",
            &["from-log"],
            &["notjson.jsonl:2: -: not JSON"],
        ),
        (
            "nofield.csv",
            "when,in,out\n1,2,3\n",
            &["from-log"],
            &["nofield.csv:1: -: no timestamp field (looked for timestamp, created"],
        ),
    ];
    for (name, body, cmd, want) in cases {
        let f = write(&dir, name, body);
        let mut args = vec!["workload"];
        args.extend_from_slice(cmd);
        args.push(f.to_str().unwrap());
        let trace = dir.join("t.jsonl");
        if cmd[0] == "from-log" {
            args.extend(["--trace-out", trace.to_str().unwrap()]);
        }
        let o = xpyd(&args);
        assert_eq!(o.status.code(), Some(2), "{name}: {}", stdout(&o));
        let e = stderr(&o);
        for w in want {
            assert!(e.contains(w), "{name}: {e}");
        }
    }
    // A missing file, and an over-long line (bounded memory).
    let o = xpyd(&[
        "workload",
        "from-log",
        dir.join("absent.jsonl").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("absent.jsonl"), "{}", stderr(&o));
    let long = write(
        &dir,
        "long.prom",
        &format!("x{{a=\"{}\"}} 1 1\n", "y".repeat(70_000)),
    );
    let o = xpyd(&["workload", "from-prometheus", long.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("long.prom:1: -: line longer than 65536 bytes"),
        "{}",
        stderr(&o)
    );
    // --openmetrics-start must be RFC 3339.
    let o = xpyd(&["run", "--openmetrics", "--openmetrics-start", "yesterday"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("RFC 3339"), "{}", stderr(&o));
}
