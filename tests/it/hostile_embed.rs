//! r18 (issue 18, items 3 and 4): safe `--emit-job` embedding and naming, and output
//! folders as one unit. Each reproducer of the issue runs the binary: bad input exits 2
//! with a message naming the field, the value and the rule, never a panic.

use crate::common::{SMALL, stderr, stdout, tmpdir, write, xpyd};
use std::path::{Path, PathBuf};

fn fails_with(o: &std::process::Output, needles: &[&str]) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(!e.contains("panicked"), "{e}");
    for n in needles {
        assert!(e.contains(n), "want `{n}` in: {e}");
    }
}

/// `SMALL` reading its input lengths from `path` (column `input_tokens`).
fn small_reading(path: &str) -> String {
    SMALL.replace(
        "[workload.input-tokens]\nkind = \"uniform\"\nmin = 200\nmax = 2000",
        &format!("[workload.input-tokens]\nkind = \"empirical\"\npath = \"{path}\"\ncolumn = \"input_tokens\""),
    )
}

/// A scenario folder `sc/` beside a folder `outside/` holding `secret.csv`.
fn folders(name: &str) -> (PathBuf, PathBuf) {
    let d = tmpdir(name);
    let sc = d.join("sc");
    std::fs::create_dir_all(&sc).unwrap();
    std::fs::create_dir_all(d.join("outside")).unwrap();
    write(
        &d.join("outside"),
        "secret.csv",
        "input_tokens\nTOPSECRET\n",
    );
    (d, sc)
}

fn emit(scenario: &Path, job: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "plan",
        scenario.to_str().unwrap(),
        "--emit-job",
        job.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    xpyd(&args)
}

#[cfg(unix)]
#[test]
fn r18_emit_job_refuses_a_symlink_before_reading_it() {
    let (d, sc) = folders("embed-link");
    // A link to a file outside the folder, and a dangling one: neither is followed (a
    // read of the dangling link would fail with "cannot read" instead).
    std::os::unix::fs::symlink(d.join("outside/secret.csv"), sc.join("link.csv")).unwrap();
    std::os::unix::fs::symlink(d.join("outside/none.csv"), sc.join("dangling.csv")).unwrap();
    for link in ["link.csv", "dangling.csv"] {
        let s = write(&sc, "s.toml", &small_reading(link));
        let job = d.join("job");
        let o = emit(&s, &job, &[]);
        fails_with(
            &o,
            &["workload.input-tokens.path", link, "is a symbolic link"],
        );
        assert!(!stderr(&o).contains("TOPSECRET"), "{}", stderr(&o));
        assert!(!job.exists(), "nothing is written");
    }
    // A linked folder is refused too.
    std::os::unix::fs::symlink(d.join("outside"), sc.join("data")).unwrap();
    let s = write(&sc, "s.toml", &small_reading("data/secret.csv"));
    fails_with(
        &emit(&s, &d.join("job"), &[]),
        &["data/secret.csv", "symbolic link"],
    );
}

#[test]
fn r18_emit_job_refuses_dotdot_before_reading() {
    let (d, sc) = folders("embed-dotdot");
    // The file does not exist: reading it first would say "cannot read".
    for path in [
        "../outside/none.csv",
        "../outside/secret.csv",
        "./../sc/x.csv",
    ] {
        let s = write(&sc, "s.toml", &small_reading(path));
        let o = emit(&s, &d.join("job"), &[]);
        fails_with(
            &o,
            &[
                "workload.input-tokens.path",
                path,
                "is outside the scenario's folder",
            ],
        );
        assert!(!stderr(&o).contains("TOPSECRET"), "{}", stderr(&o));
    }
    // `--set` paths are checked the same way.
    let s = write(&sc, "s.toml", SMALL);
    let o = emit(
        &s,
        &d.join("job"),
        &["--set", "hardware.profile=\"../outside/secret.csv\""],
    );
    fails_with(
        &o,
        &["hardware.profile", "is outside the scenario's folder"],
    );
}

#[test]
fn r18_configmap_keys_never_collide() {
    let (d, sc) = folders("embed-keys");
    write(&sc, "x y.csv", "input_tokens\n100\n200\n");
    write(&sc, "x_y.csv", "input_tokens\n900\n999\n");
    let text = small_reading("x y.csv").replace(
        "[workload.output-tokens]\nkind = \"uniform\"\nmin = 10\nmax = 200",
        "[workload.output-tokens]\nkind = \"empirical\"\npath = \"x_y.csv\"\ncolumn = \"input_tokens\"",
    );
    let s = write(&sc, "s.toml", &text);
    let job = d.join("job");
    let o = emit(&s, &job, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let cm = std::fs::read_to_string(job.join("plan-configmap.yaml")).unwrap();
    let j = std::fs::read_to_string(job.join("plan-job.yaml")).unwrap();
    // Each file under its own key, each key mounted at its own path.
    let block = |key: &str| {
        let i = cm
            .find(&format!("  {key}: |"))
            .unwrap_or_else(|| panic!("{key}:\n{cm}"));
        cm[i..].lines().take(4).collect::<Vec<_>>().join("\n")
    };
    assert!(block("x_20y.csv").contains("200"), "{cm}");
    assert!(block("x_5Fy.csv").contains("999"), "{cm}");
    assert!(
        j.contains("key: x_20y.csv\n            path: x y.csv"),
        "{j}"
    );
    assert!(
        j.contains("key: x_5Fy.csv\n            path: x_y.csv"),
        "{j}"
    );
}

#[test]
fn r18_user_strings_reach_job_args_escaped_and_commands_quoted() {
    let d = tmpdir("embed-args");
    let sc = d.join("my scenarios");
    std::fs::create_dir_all(&sc).unwrap();
    let s = write(&sc, "s 1.toml", SMALL);
    let job = d.join("job");
    let o = emit(&s, &job, &["--set", "name=\"a$(HOME)\""]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = std::fs::read_to_string(job.join("plan-job.yaml")).unwrap();
    assert!(j.contains("name=\"a$$(HOME)\""), "{j}");
    assert!(!j.contains("a$(HOME)"), "{j}");
    assert!(j.contains("/etc/xpyd/scenario/s 1.toml"), "{j}");
    assert!(j.contains("$(JOB_COMPLETION_INDEX)/4"), "{j}");
    let out = stdout(&o);
    let merge = out
        .lines()
        .find(|l| l.contains("--merge SHARDS_DIR"))
        .unwrap_or_else(|| panic!("{out}"));
    let quoted_scenario = format!("'{}'", s.display());
    assert!(merge.contains(&quoted_scenario), "{merge}");
    assert!(merge.contains("--set 'name=\"a$(HOME)\"'"), "{merge}");
}

#[test]
fn r18_a_name_starting_with_a_digit_is_refused_at_validation() {
    let d = tmpdir("embed-name");
    let s = write(&d, "s.toml", SMALL);
    let o = xpyd(&[
        "run",
        s.to_str().unwrap(),
        "--set",
        "name=\"2p1d\"",
        "--out",
        d.join("o").to_str().unwrap(),
    ]);
    fails_with(
        &o,
        &[
            "s.toml: name:",
            "\"2p1d\"",
            "must start with a letter",
            "DNS-1035",
        ],
    );
    // The file's stem is the default name: the same rule.
    let s = write(
        &d,
        "2p1d.toml",
        SMALL.replace("name = \"small\"\n", "").as_str(),
    );
    let o = xpyd(&[
        "manifest",
        s.to_str().unwrap(),
        "--out",
        d.join("m").to_str().unwrap(),
    ]);
    fails_with(&o, &["name:", "\"2p1d\"", "the scenario file's name"]);
    // `xpyd manifest --name` is checked as the Service name it becomes.
    let s = write(&d, "s.toml", SMALL);
    let o = xpyd(&[
        "manifest",
        s.to_str().unwrap(),
        "--name",
        "9x",
        "--out",
        d.join("m").to_str().unwrap(),
    ]);
    fails_with(&o, &["name", "9x", "DNS-1035"]);
}

#[test]
fn r18_trust_remote_code_only_when_asked() {
    let d = tmpdir("embed-trust");
    let s = write(&d, "s.toml", SMALL);
    let rbg = |extra: &[&str]| {
        let out = d.join("m");
        let _ = std::fs::remove_dir_all(&out);
        let mut args = vec![
            "manifest",
            s.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = xpyd(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        std::fs::read_to_string(out.join("manifests/rolebasedgroup.yaml")).unwrap()
    };
    let off = rbg(&[]);
    assert!(off.contains("sglang.launch_server"), "{off}");
    assert!(!off.contains("trust-remote-code"), "{off}");
    let on = rbg(&["--set", "model.trust-remote-code=true"]);
    assert!(on.contains("--trust-remote-code"), "{on}");
}

#[test]
fn r18_errors_never_echo_a_files_contents() {
    let (d, sc) = folders("embed-echo");
    let s = write(&sc, "s.toml", &small_reading("../outside/secret.csv"));
    let o = xpyd(&[
        "run",
        s.to_str().unwrap(),
        "--set",
        "workload.input-tokens.column=\"nope\"",
        "--out",
        d.join("o").to_str().unwrap(),
    ]);
    fails_with(&o, &["workload.input-tokens.column", "no column `nope`"]);
    write(
        &d.join("outside"),
        "secret.csv",
        "hunter2-TOPSECRET,x\n1,2\n",
    );
    let o = xpyd(&[
        "run",
        s.to_str().unwrap(),
        "--out",
        d.join("o").to_str().unwrap(),
    ]);
    fails_with(&o, &["no column `input_tokens`"]);
    assert!(!stderr(&o).contains("TOPSECRET"), "{}", stderr(&o));
}

/// Every name in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn run(out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "run",
        "--requests",
        "40",
        "--no-report",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    xpyd(&args)
}

#[test]
fn r18_report_refuses_a_folder_that_mixes_two_runs() {
    let d = tmpdir("mixed");
    let (a, b) = (d.join("a"), d.join("b"));
    for (out, seed) in [(&a, "1"), (&b, "2")] {
        let o = run(out, &["--seed", seed]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    // A run killed after its first rename (old binaries): the new requests.csv with the
    // old summary.json.
    std::fs::copy(b.join("requests.csv"), a.join("requests.csv")).unwrap();
    let o = xpyd(&["report", a.to_str().unwrap()]);
    fails_with(
        &o,
        &["requests.csv does not belong to the run summary.json describes"],
    );
    std::fs::remove_file(b.join("requests-baseline.csv")).unwrap();
    let o = xpyd(&["report", b.to_str().unwrap()]);
    fails_with(&o, &["requests-baseline.csv is missing"]);
}

#[test]
fn r18_report_refuses_windows_shorter_than_a_microsecond() {
    let d = tmpdir("short-window");
    let out = d.join("o");
    let o = run(&out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let p = out.join("timeseries.csv");
    let text = std::fs::read_to_string(&p).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut cells: Vec<String> = lines[1].split(',').map(str::to_string).collect();
    let t: f64 = cells[1].parse().unwrap();
    cells[1] = format!("{:.9}", t + 1e-7);
    lines.insert(2, cells.join(","));
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    let o = xpyd(&["report", out.to_str().unwrap()]);
    fails_with(&o, &["timeseries.csv", "time_s", "at least 1 µs"]);
}

#[test]
fn r18_a_new_run_removes_the_stale_files_of_the_last_one() {
    let d = tmpdir("stale");
    let out = d.join("o");
    let o = run(&out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.join("requests-baseline.csv").exists());
    let o = run(&out, &["--no-baseline"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        !out.join("requests-baseline.csv").exists(),
        "{:?}",
        names(&out)
    );
    // The user's own files stay; xpyd's stale ones still go.
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let o = run(&out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&out, &["--no-baseline"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        names(&out),
        [
            "assumptions.json",
            "notes.txt",
            "requests.csv",
            "summary.json",
            "timeseries.csv"
        ]
    );
    assert_eq!(names(&d), ["o"], "no staging folder is left");
}

#[cfg(unix)]
#[test]
fn r18_sigint_and_sigterm_leave_no_partial_files() {
    let d = tmpdir("signal");
    let out = d.join("o");
    let o = run(&out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let before: Vec<(String, Vec<u8>)> = names(&out)
        .into_iter()
        .map(|n| (n.clone(), std::fs::read(out.join(&n)).unwrap()))
        .collect();
    for sig in ["-INT", "-TERM"] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_xpyd"))
            .args([
                "run",
                "--requests",
                "200000",
                "--out",
                out.to_str().unwrap(),
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Wait until it writes its staging folder.
        let start = std::time::Instant::now();
        while names(&d).len() < 2 {
            assert!(start.elapsed().as_secs() < 60, "no staging folder");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
        let k = std::process::Command::new("kill")
            .args([sig, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(k.success());
        let status = child.wait().unwrap();
        assert!(!status.success(), "{sig}");
        assert_eq!(names(&d), ["o"], "{sig}: the staging folder is removed");
        let after: Vec<(String, Vec<u8>)> = names(&out)
            .into_iter()
            .map(|n| (n.clone(), std::fs::read(out.join(&n)).unwrap()))
            .collect();
        assert!(after == before, "{sig}: the last run's files are untouched");
    }
}

#[test]
fn r18_a_plan_folder_is_put_in_place_whole() {
    let d = tmpdir("plan-staged");
    let out = d.join("o");
    std::fs::create_dir_all(&out).unwrap();
    // A stale output of another command and the user's own file.
    std::fs::write(out.join("sweep.csv"), "stale").unwrap();
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let mut args = vec!["plan", "--out", out.to_str().unwrap(), "--jobs", "1"];
    args.extend_from_slice(&crate::common::SMALL_PLAN);
    let o = xpyd(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let got = names(&out);
    assert!(!got.contains(&"sweep.csv".to_owned()), "{got:?}");
    for f in [
        "notes.txt",
        "plan.csv",
        "recommendation.json",
        "recommended.toml",
        "report.html",
    ] {
        assert!(got.contains(&f.to_owned()), "{f}: {got:?}");
    }
    assert_eq!(names(&d), ["o"], "no staging folder is left");
    // recommendation.json names the scenario where it now is, not the staging folder.
    let rec = std::fs::read_to_string(out.join("recommendation.json")).unwrap();
    assert!(!rec.contains("xpyd-staging"), "{rec}");
    assert!(rec.contains("recommended.toml"), "{rec}");
    assert!(stdout(&o).contains("replay: xpyd run"), "{}", stdout(&o));
}
