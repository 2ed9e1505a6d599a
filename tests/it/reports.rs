//! Reports end to end: `report.html` of a run, a sweep and a plan (inline SVG charts with
//! their axis labels and legends, the key numbers, the assumptions), byte-identical for
//! the same seed and rebuilt byte for byte by `xpyd report DIR`; `sweep.csv`'s columns and
//! increasing offered load at 1 and 2 threads; bad input exits 2 naming the problem.

use crate::common::{SMALL, json, stderr, stdout, tmpdir, write, xpyd};
use std::path::Path;

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Every chart of `dir/charts` as bytes, by name.
fn charts(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir.join("charts"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

/// The page is self-contained: no script, stylesheet link or remote resource.
fn assert_self_contained(html: &str) {
    for bad in [
        "<script",
        "<link",
        "src=\"http",
        "href=\"http",
        "@import",
        "url(",
    ] {
        assert!(!html.contains(bad), "report.html contains {bad}");
    }
}

/// Remove the report and rebuild it with `xpyd report DIR [FLAGS]`; it must come back
/// identical.
fn assert_rebuilds(dir: &Path, flags: &[&str]) {
    let before = std::fs::read(dir.join("report.html")).unwrap();
    let charts_before = charts(dir);
    std::fs::remove_file(dir.join("report.html")).unwrap();
    std::fs::remove_dir_all(dir.join("charts")).unwrap();
    let mut args = vec!["report", dir.to_str().unwrap()];
    args.extend(flags);
    let o = xpyd(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        std::fs::read(dir.join("report.html")).unwrap() == before,
        "xpyd report {} did not reproduce report.html",
        dir.display()
    );
    assert!(
        charts(dir) == charts_before,
        "charts differ after xpyd report"
    );
}

#[test]
fn run_report_has_every_chart_and_number_and_rebuilds_identically() {
    let d = tmpdir("report-run");
    let p = write(&d, "small.toml", SMALL);
    let (a, b) = (d.join("a"), d.join("b"));
    for out in [&a, &b] {
        let o = xpyd(&[
            "run",
            p.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--png",
            "--parquet",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stdout(&o).contains("report.html"));
    }
    let html = read(&a.join("report.html"));
    assert_self_contained(&html);
    // Same seed: byte-identical page, charts (SVG and PNG) and tables.
    assert_eq!(html, read(&b.join("report.html")));
    assert!(
        charts(&a) == charts(&b),
        "charts differ between identical runs"
    );
    for f in [
        "windows.csv",
        "instances.csv",
        "windows.parquet",
        "assumptions.json",
        "requests-baseline.csv",
    ] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f}"
        );
    }
    let names: Vec<String> = charts(&a).into_iter().map(|c| c.0).collect();
    for c in [
        "ttft_cdf",
        "tpot_cdf",
        "e2e_cdf",
        "queue",
        "running",
        "kv_utilization",
        "replicas",
        "request_rate",
        "kv_transfer_hist",
    ] {
        assert!(
            names.contains(&format!("{c}.svg")),
            "{c}.svg missing: {names:?}"
        );
        assert!(names.contains(&format!("{c}.png")), "{c}.png missing");
    }
    // Each chart inline, with its title, axis labels (units) and legend.
    assert_eq!(html.matches("<svg").count(), 9, "one inline SVG per chart");
    for text in [
        "TTFT CDF",
        "TTFT (ms)",
        "TPOT (ms)",
        "E2E (ms)",
        "fraction of requests",
        "TTFT SLO 2000 ms",
        "aggregated baseline (2 x TP 1)",
        "disaggregated (1P1D",
        "simulated time (s)",
        "requests waiting (sum over instances)",
        "running sequences (sum over instances)",
        "KV blocks used / capacity",
        "requests/s",
        "arrivals/s",
        "KV transfer from prefill to decode (ms)",
        "Key numbers",
        "Assumptions and their sources",
        "calibration profile",
        "roofline efficiencies",
    ] {
        assert!(html.contains(text), "report.html lacks {text:?}");
    }
    // The key numbers are summary.json's.
    let s = json(&a.join("summary.json"));
    let p50 = s["ttft_ms"]["p50"].as_f64().unwrap();
    let p90 = s["ttft_ms"]["p90"].as_f64().unwrap();
    assert!(
        html.contains(&format!("{p50:.1} / {p90:.1}")),
        "TTFT p50/p90 {p50} {p90} missing"
    );
    assert!(html.contains(&s["scenario"].as_str().unwrap().to_string()));
    let cost = s["cost_source"].as_str().unwrap();
    assert!(html.contains(cost), "cost source {cost}");
    assert_rebuilds(&a, &["--png"]);
}

#[test]
fn sweep_csv_is_monotone_and_the_same_at_any_thread_count() {
    let d = tmpdir("report-sweep");
    let p = write(&d, "small.toml", SMALL);
    let (a, b) = (d.join("a"), d.join("b"));
    for (out, jobs) in [(&a, "1"), (&b, "2")] {
        let o = xpyd(&[
            "sweep",
            p.to_str().unwrap(),
            "--rates",
            "8,2:6:2",
            "--requests",
            "100",
            "--jobs",
            jobs,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stdout(&o).contains("knee"));
    }
    let csv = read(&a.join("sweep.csv"));
    assert_eq!(csv, read(&b.join("sweep.csv")));
    assert_eq!(read(&a.join("report.html")), read(&b.join("report.html")));
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "offered_rps,requests,completed,rejected,unfinished,throughput_rps,goodput_rps,output_tokens_per_s,output_tokens_per_s_per_gpu,ttft_p50_ms,ttft_p90_ms,ttft_p99_ms,tpot_p50_ms,tpot_p90_ms,tpot_p99_ms,e2e_p50_ms,e2e_p90_ms,e2e_p99_ms,slo_attainment,slo_met,gpus,timed_out"
    );
    let offered: Vec<f64> = lines
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(offered, vec![2.0, 4.0, 6.0, 8.0]);
    let html = read(&a.join("report.html"));
    assert_self_contained(&html);
    assert_eq!(html.matches("<svg").count(), 3);
    for text in [
        "TTFT vs offered load",
        "TPOT vs offered load",
        "Throughput vs offered load",
        "offered load (requests/s)",
        "TTFT p90",
        "TTFT SLO 2000 ms",
        "goodput (meeting every SLO)",
        "Assumptions and their sources",
    ] {
        assert!(html.contains(text), "sweep report lacks {text:?}");
    }
    assert_rebuilds(&a, &[]);
}

#[test]
fn plan_report_has_the_pareto_front_and_heat_map() {
    let d = tmpdir("report-plan");
    let p = write(&d, "small.toml", SMALL);
    let out = d.join("plan");
    let o = xpyd(&[
        "plan",
        p.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--gpus-max",
        "3",
        "--tp",
        "1",
        "--token-budgets",
        "4096",
        "--max-num-seqs",
        "256",
        "--router",
        "round-robin",
        "--probe-requests",
        "60",
        "--precision",
        "0.1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let html = read(&out.join("report.html"));
    assert_self_contained(&html);
    assert_eq!(html.matches("<svg").count(), 2);
    for text in [
        "Pareto front: throughput per GPU vs speed per user",
        "output tokens/s per GPU",
        "output tokens/s per user",
        "Pareto front",
        "Goodput per GPU over X:Y and TP",
        "prefill:decode instances per unit (X:Y)",
        "TP prefill/decode",
        "Recommendation",
        "recommended: ",
        "Assumptions and their sources",
    ] {
        assert!(html.contains(text), "plan report lacks {text:?}");
    }
    assert!(out.join("assumptions.json").exists());
    assert_rebuilds(&out, &[]);
}

#[test]
fn bad_report_input_exits_2_naming_the_problem() {
    let d = tmpdir("report-bad");
    let check = |args: &[&str], needles: &[&str]| {
        let o = xpyd(args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        for n in needles {
            assert!(err.contains(n), "{args:?}: {n:?} not in {err}");
        }
    };
    let empty = d.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    check(
        &["report", empty.to_str().unwrap()],
        &["not a run, sweep or plan folder"],
    );

    let p = write(&d, "small.toml", SMALL);
    let run = d.join("run");
    let o = xpyd(&[
        "run",
        p.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
        "--no-report",
        "--requests",
        "40",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        !run.join("report.html").exists(),
        "--no-report wrote a report"
    );
    let csv = read(&run.join("requests.csv"));
    let mut lines: Vec<String> = csv.lines().map(str::to_string).collect();
    let mut cells: Vec<String> = lines[2].split(',').map(str::to_string).collect();
    cells[7] = "fast".into();
    lines[2] = cells.join(",");
    std::fs::write(run.join("requests.csv"), lines.join("\n") + "\n").unwrap();
    check(
        &["report", run.to_str().unwrap()],
        &["requests.csv:3", "ttft_ms", "\"fast\""],
    );
    std::fs::write(run.join("requests.csv"), "id,arrival_s\n0,0.1\n").unwrap();
    check(
        &["report", run.to_str().unwrap()],
        &["requests.csv", "missing column"],
    );
    std::fs::write(run.join("summary.json"), "{\"scenario\": 3}").unwrap();
    check(
        &["report", run.to_str().unwrap()],
        &["summary.json", "scenario"],
    );

    for bad in ["", "x", "0", "4:2:1", "1,,2", "-3"] {
        check(
            &[
                "sweep",
                p.to_str().unwrap(),
                "--rates",
                bad,
                "--out",
                d.join("s").to_str().unwrap(),
            ],
            &["--rates"],
        );
    }
}
