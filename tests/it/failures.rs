//! Failures end to end (issue 16 item 3): lost requests in `requests.csv`, `summary.json`
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
