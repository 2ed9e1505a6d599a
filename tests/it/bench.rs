//! `xpyd bench`: the report and the regression gate's verdicts and exit codes (issue 19,
//! item 5). Nothing here depends on how fast the machine is: the bases are absurdly fast
//! (a nanosecond per round) or slow (a day per round), so the verdicts are certain; the
//! flagging rule itself is unit-tested on synthetic samples (`sim/src/bench/compare.rs`).

use crate::common::{stderr, stdout, tmpdir, write, xpyd};

/// A one-workload report of `chat-1m` with `rounds` rounds of `wall` seconds each.
fn base(wall: f64, rounds: usize, requests: u64) -> String {
    let walls = vec![wall.to_string(); rounds].join(",");
    format!(
        r#"{{"workloads":[{{"name":"chat-1m","requests":{requests},"wall_s":{wall},
        "requests_per_s":null,"events_per_s":null,"peak_rss_mb":null,"wall_s_rounds":[{walls}]}}]}}"#
    )
}

#[test]
fn gate_flags_a_slower_build_and_passes_a_faster_one() {
    let d = tmpdir("bench-gate");
    let run = |file: &std::path::Path| {
        xpyd(&[
            "bench",
            "--only",
            "chat-1m",
            "--requests",
            "200",
            "--rounds",
            "2",
            "--compare",
            file.to_str().unwrap(),
        ])
    };
    let fast = write(&d, "fast.json", &base(1e-9, 2, 200));
    let o = run(&fast);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("SLOWER (2 of 2 rounds > +10%)"),
        "{}",
        stdout(&o)
    );
    assert!(stderr(&o).contains("slower by more than 10% in 2 of 2 paired rounds: chat-1m"));
    let slow = write(&d, "slow.json", &base(86_400.0, 2, 200));
    let o = run(&slow);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("ok (0 of 2 rounds > +10%)"),
        "{}",
        stdout(&o)
    );
    // The report is itself a base: build, rounds, every round's wall time, the verdict.
    let o = xpyd(&[
        "bench",
        "--only",
        "chat-1m",
        "--requests",
        "200",
        "--rounds",
        "2",
        "--json",
        "--compare",
        slow.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(j["rounds"], 2);
    assert_eq!(j["workloads"][0]["requests"], 200);
    assert_eq!(
        j["workloads"][0]["wall_s_rounds"].as_array().unwrap().len(),
        2
    );
    assert_eq!(j["comparison"][0]["flagged"], false);
    assert!(j["build"]["version"].is_string());
    let again = write(&d, "again.json", &stdout(&o));
    let o = run(&again);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", stderr(&o));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn malformed_bases_and_bad_flags_exit_2_naming_the_problem() {
    let d = tmpdir("bench-bad");
    let cases = [
        (
            write(
                &d,
                "type.json",
                r#"{"workloads":[{"name":"chat-1m","requests":1,"wall_s":"x","requests_per_s":null,"events_per_s":null,"peak_rss_mb":null}]}"#,
            ),
            "type.json: workloads[0].wall_s: ",
        ),
        (
            write(&d, "short.json", &base(1.0, 3, 200)),
            "short.json: workloads[0].wall_s_rounds: chat-1m has 3 sample(s) and 5 rounds are compared",
        ),
        (write(&d, "junk.json", "{"), "junk.json: "),
    ];
    for (file, want) in &cases {
        let o = xpyd(&[
            "bench",
            "--only",
            "chat-1m",
            "--compare",
            file.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(
            stderr(&o).contains(want),
            "want `{want}` in: {}",
            stderr(&o)
        );
        // Refused before anything runs.
        assert!(!stderr(&o).contains("round 1/"), "{}", stderr(&o));
    }
    for (args, want) in [
        (
            &["bench", "--only", "nope"][..],
            "--only nope: unknown workload",
        ),
        (&["bench", "--rounds", "0"][..], "--rounds"),
        (
            &["bench", "--compare", "a.json", "--baseline-exe", "b"][..],
            "cannot be used with",
        ),
    ] {
        let o = xpyd(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
    }
    let _ = std::fs::remove_dir_all(&d);
}
