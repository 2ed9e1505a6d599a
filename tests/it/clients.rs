//! Client semantics end to end (issue 14 item 5): `timeout-s` aborts show as their own
//! outcome in `requests.csv`, `summary.json` and the printed summary; warm-up requests
//! are marked `warmup` and measured in nothing; bad values exit 2 naming the field.

use crate::common::{SMALL, json, stderr, stdout, tmpdir, write, xpyd};

/// [`SMALL`] at a rate where a 1 s timeout cuts about half the requests, with warm-up.
fn overloaded() -> String {
    SMALL
        .replace(
            "requests = 150",
            "requests = 150\nwarmup-requests = 10\ntimeout-s = 1",
        )
        .replace("rate-rps = 4.0", "rate-rps = 30.0")
}

#[test]
fn timeouts_and_warmup_in_every_output() {
    let dir = tmpdir("clients");
    let f = write(&dir, "s.toml", &overloaded());
    let out = dir.join("out");
    let o = xpyd(&["run", f.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("10 warm-up requests first; timeout 1 s"),
        "{text}"
    );
    assert!(text.contains("timed out (share of arrived)"), "{text}");
    assert!(text.contains("warm-up requests (not measured)"), "{text}");

    let csv = std::fs::read_to_string(out.join("requests.csv")).unwrap();
    let outcomes: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(13).unwrap())
        .collect();
    assert_eq!(outcomes.len(), 160, "every issued request has a row");
    let count = |o: &str| outcomes.iter().filter(|&&x| x == o).count() as u64;
    assert_eq!(count("warmup"), 10);
    assert!(count("timed-out") > 0 && count("completed") > 0);

    let s = json(&out.join("summary.json"));
    let r = &s["requests"];
    assert_eq!(r["arrived"], 150);
    assert_eq!(r["warmup"], 10);
    assert_eq!(r["timed_out"].as_u64(), Some(count("timed-out")));
    assert_eq!(r["completed"].as_u64(), Some(count("completed")));
    let frac = r["timed_out_fraction"].as_f64().unwrap();
    assert!((frac - count("timed-out") as f64 / 150.0).abs() < 1e-12);
    // Latencies are of completed, measured requests only.
    assert_eq!(s["ttft_ms"]["count"].as_u64(), Some(count("completed")));
}

#[test]
fn bad_timeout_exits_2_naming_the_field() {
    let dir = tmpdir("clients-bad");
    let f = write(
        &dir,
        "s.toml",
        &SMALL.replace("requests = 150", "requests = 150\ntimeout-s = -3"),
    );
    let o = xpyd(&[
        "run",
        f.to_str().unwrap(),
        "--out",
        dir.join("o").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("s.toml: workload.timeout-s: -3 must be"), "{e}");
}
