//! Failures and spot capacity end to end (issue 16 items 3-4): lost requests, retries,
//! reclaims and the spot cost split in `requests.csv`, `summary.json`
//! and the printed summary; the same seed writes byte-identical outputs; a bad value exits
//! 2 naming the field.

use crate::common::{SMALL, json, stderr, stdout, tmpdir, write, xpyd};

/// [`SMALL`] with a failure of the decode instance (index 1) at 10 s and a GPU process.
fn failing() -> String {
    format!(
        "{SMALL}\n[failures]\ngpu-mtbf-hours = 0.02\n\n[[failures.events]]\nat-s = 10\ninstance = 1\n"
    )
}

#[test]
fn lost_requests_in_every_output_and_byte_identical_reruns() {
    let dir = tmpdir("failures");
    let f = write(&dir, "s.toml", &failing());
    let run = |name: &str| {
        let out = dir.join(name);
        let o = xpyd(&["run", f.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        (out, stdout(&o))
    };
    let (out, text) = run("a");
    assert!(
        text.contains("lost on failed instances (share of arrived)"),
        "{text}"
    );
    assert!(text.contains("failures: "), "{text}");

    let csv = std::fs::read_to_string(out.join("requests.csv")).unwrap();
    let outcomes: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(13).unwrap())
        .collect();
    let count = |o: &str| outcomes.iter().filter(|&&x| x == o).count() as u64;
    assert!(count("lost") > 0, "{csv}");
    let s = json(&out.join("summary.json"));
    let r = &s["requests"];
    assert_eq!(r["lost"].as_u64(), Some(count("lost")));
    assert_eq!(s["failures"]["lost"].as_u64(), Some(count("lost")));
    assert!(s["failures"]["instance_failures"].as_u64().unwrap() >= 1);
    let sum = ["completed", "rejected", "unfinished", "lost"]
        .iter()
        .map(|k| r[k].as_u64().unwrap())
        .sum::<u64>();
    assert_eq!(r["arrived"].as_u64(), Some(sum));
    assert_eq!(outcomes.len() as u64, sum);
    for role in s["failures"]["roles"].as_array().unwrap() {
        let a = role["availability"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&a), "{role}");
    }

    let (again, _) = run("b");
    for file in ["summary.json", "requests.csv", "timeseries.csv"] {
        let x = std::fs::read(out.join(file)).unwrap();
        let y = std::fs::read(again.join(file)).unwrap();
        assert!(x == y, "{file} differs between two runs of one seed");
    }
}

#[test]
fn bad_failure_exits_2_naming_the_field() {
    let dir = tmpdir("failures-bad");
    let f = write(
        &dir,
        "s.toml",
        &format!("{SMALL}\n[failures]\nnode-mtbf-hours = 0\n"),
    );
    let o = xpyd(&[
        "run",
        f.to_str().unwrap(),
        "--out",
        dir.join("o").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains(
            "s.toml: failures.node-mtbf-hours: must be in [0.01, 1000000000] hours, got 0.0"
        ),
        "{e}"
    );
}

/// [`SMALL`] with its decode replica (instance 1) on spot capacity, reclaimed at 10 s
/// without notice, and a retry budget of 2: the requests on it are retried.
fn spot_run() -> String {
    format!(
        "{SMALL}\n[failures]\nretries = 2\n\n[spot]\nnotice-s = 0\ngpu-hour-usd = 1.0\n\n[[spot.events]]\nat-s = 10\ninstance = 1\n"
    )
}

#[test]
fn spot_reclaims_retries_and_cost_split_in_every_output() {
    let dir = tmpdir("spot");
    let f = write(&dir, "s.toml", &spot_run());
    let run = |name: &str| {
        let out = dir.join(name);
        let o = xpyd(&[
            "run",
            f.to_str().unwrap(),
            "--set",
            "deployment.decode.spot-replicas=1",
            "--set",
            "hardware.gpu-hour-usd=3.0",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        (out, stdout(&o))
    };
    let (out, text) = run("a");
    assert!(
        text.contains("spot: 1 preemptions; GPU-hours spot"),
        "{text}"
    );
    assert!(text.contains("1 spot preemptions"), "{text}");
    let s = json(&out.join("summary.json"));
    let f = &s["failures"];
    assert_eq!(f["preemptions"].as_u64(), Some(1));
    assert_eq!(f["instance_failures"].as_u64(), Some(0));
    let retries = f["retries"].as_u64().unwrap();
    assert!(retries > 0, "{f}");
    assert!(
        text.contains(&format!("0 requests lost, {retries} retries")),
        "{text}"
    );
    assert_eq!(s["requests"]["lost"].as_u64(), Some(0));
    let events = f["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["kind"], "preempted");
    assert_eq!(events[0]["time_s"].as_f64(), Some(10.0));
    assert_eq!(events[0]["role"], "decode");
    let roles = f["roles"].as_array().unwrap();
    assert_eq!(roles[1]["preemptions"].as_u64(), Some(1));
    assert!(roles[1]["availability"].as_f64().unwrap() < 1.0);
    // Cost: spot GPU-hours at the spot price, the rest at the on-demand one.
    let sp = &s["spot"];
    let (spot_h, od_h) = (
        sp["spot_gpu_hours"].as_f64().unwrap(),
        sp["on_demand_gpu_hours"].as_f64().unwrap(),
    );
    assert!(spot_h > 0.0 && od_h > 0.0, "{sp}");
    let (spot_c, od_c) = (
        sp["spot_cost_usd"].as_f64().unwrap(),
        sp["on_demand_cost_usd"].as_f64().unwrap(),
    );
    assert!((spot_c - spot_h).abs() < 1e-9 && (od_c - 3.0 * od_h).abs() < 1e-9);
    let cost = s["cost_usd"].as_f64().unwrap();
    assert!((cost - spot_c - od_c).abs() < 1e-6, "{cost}");
    // The report shows failures and reclaims over time.
    let chart = std::fs::read_to_string(out.join("charts/failures.svg")).unwrap();
    assert!(chart.contains("decode spot reclaims"), "{chart}");

    let (again, _) = run("b");
    for file in [
        "summary.json",
        "requests.csv",
        "timeseries.csv",
        "charts/failures.svg",
    ] {
        let x = std::fs::read(out.join(file)).unwrap();
        let y = std::fs::read(again.join(file)).unwrap();
        assert!(x == y, "{file} differs between two runs of one seed");
    }
}

#[test]
fn bad_spot_exits_2_naming_the_field() {
    let dir = tmpdir("spot-bad");
    let f = write(&dir, "s.toml", &format!("{SMALL}\n[spot]\nnotice-s = -3\n"));
    let o = xpyd(&[
        "run",
        f.to_str().unwrap(),
        "--set",
        "deployment.decode.spot-replicas=1",
        "--out",
        dir.join("o").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("s.toml: spot.notice-s: must be in [0, 86400] seconds, got -3.0"),
        "{e}"
    );
}
