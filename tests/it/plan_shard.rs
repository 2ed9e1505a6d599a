//! `xpyd plan --shard I/N` + `--merge`: the merged plan is byte-identical to the plan of
//! one run; mismatched, missing and malformed shards are errors (exit 2). `--emit-job`
//! writes the Indexed Job and its scenario ConfigMap (their schemas are checked in
//! `reports/tests/manifests_schema/job.rs`).

use crate::common::{SMALL_PLAN, stderr, stdout, tmpdir, write, xpyd};
use std::path::{Path, PathBuf};

/// The small search the plan tests share (`SMALL_PLAN`), plus `extra`.
fn plan(extra: &[&str]) -> std::process::Output {
    let mut args = vec!["plan", "--jobs", "1"];
    args.extend_from_slice(&SMALL_PLAN);
    args.extend_from_slice(extra);
    xpyd(&args)
}

/// Every file under `dir`, relative path and bytes, in name order.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_path_buf();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn fails_with(o: &std::process::Output, needle: &str) {
    assert_eq!(o.status.code(), Some(2), "{}", stderr(o));
    assert!(
        stderr(o).contains(needle),
        "want `{needle}` in: {}",
        stderr(o)
    );
    assert!(!stderr(o).contains("panicked"), "{}", stderr(o));
}

#[test]
fn shards_merge_into_the_plan_of_one_run_byte_for_byte() {
    let d = tmpdir("plan-shard");
    let out = d.join("plan");
    let out_s = out.to_str().unwrap();
    let single = plan(&["--out", out_s]);
    assert!(single.status.success(), "{}", stderr(&single));
    let want = files(&out);
    assert!(want.len() >= 5, "{want:?}");
    std::fs::remove_dir_all(&out).unwrap();

    let shards = d.join("shards");
    let shards_s = shards.to_str().unwrap();
    for s in ["0/2", "1/2"] {
        let o = plan(&["--shard", s, "--out", shards_s]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stdout(&o).contains(&format!("shard {s}")), "{}", stdout(&o));
    }
    assert!(
        !shards.join("plan.csv").exists(),
        "a shard writes only its shard file"
    );
    let merged = plan(&["--merge", shards_s, "--out", out_s]);
    assert!(merged.status.success(), "{}", stderr(&merged));
    let got = files(&out);
    let names = |v: &[(PathBuf, Vec<u8>)]| v.iter().map(|f| f.0.clone()).collect::<Vec<_>>();
    assert_eq!(names(&want), names(&got));
    for ((name, a), (_, b)) in want.iter().zip(&got) {
        assert!(
            a == b,
            "{} differs between the single and the merged plan",
            name.display()
        );
    }
    // Files in any order, named one by one, merge the same.
    let (s0, s1) = (
        shards.join("shard-0-of-2.json"),
        shards.join("shard-1-of-2.json"),
    );
    let out2 = d.join("plan2");
    let o = plan(&[
        "--merge",
        s1.to_str().unwrap(),
        s0.to_str().unwrap(),
        "--out",
        out2.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(out2.join("plan.csv")).unwrap(),
        std::fs::read(out.join("plan.csv")).unwrap()
    );

    // A shard made with other settings is rejected by its fingerprint.
    let other = d.join("other");
    let o = plan(&[
        "--shard",
        "1/2",
        "--out",
        other.to_str().unwrap(),
        "--seed",
        "7",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let foreign = other.join("shard-1-of-2.json");
    let o = plan(&["--merge", s0.to_str().unwrap(), foreign.to_str().unwrap()]);
    fails_with(&o, "made for another scenario or other plan settings");
    // A missing shard, a shard given twice, a missing path, a broken file.
    fails_with(
        &plan(&["--merge", s0.to_str().unwrap()]),
        "shard(s) 1/2 missing",
    );
    fails_with(
        &plan(&["--merge", s0.to_str().unwrap(), s0.to_str().unwrap()]),
        "given twice",
    );
    fails_with(
        &plan(&["--merge", d.join("nope").to_str().unwrap()]),
        "no such file or folder",
    );
    fails_with(
        &plan(&["--merge", d.to_str().unwrap()]),
        "holds no shard-I-of-N.json",
    );
    let broken = write(&d, "shard-0-of-1.json", "{\"format\": 1}");
    fails_with(
        &plan(&["--merge", broken.to_str().unwrap()]),
        "not a plan shard file",
    );
}

#[test]
fn bad_shard_flags_exit_2_naming_the_problem() {
    for (arg, needle) in [
        ("3/2", "below the shard count"),
        ("0/0", "shard count must be in [1, 100000]"),
        (
            "0/4294967295",
            "shard count must be in [1, 100000], got 4294967295",
        ),
        ("x", "expected I/N"),
    ] {
        let o = xpyd(&["plan", "--shard", arg]);
        fails_with(&o, needle);
    }
    let o = xpyd(&["plan", "--shard", "0/2", "--merge", "x"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn emit_job_writes_the_job_and_configmap_with_referenced_files() {
    let d = tmpdir("plan-job");
    std::fs::create_dir_all(d.join("data")).unwrap();
    write(
        &d.join("data"),
        "lens.csv",
        "num_prefill_tokens,num_decode_tokens\n100,20\n300,40\n",
    );
    let sc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/seed-sglang-2p1d.toml"),
    )
    .unwrap()
    .replace(
        "path = \"builtin:sharegpt\"",
        "path = \"data/lens.csv\"\ninput-column = \"num_prefill_tokens\"\noutput-column = \"num_decode_tokens\"",
    );
    let scenario = write(&d, "chat.toml", &sc);
    let job = d.join("job");
    let o = xpyd(&[
        "plan",
        scenario.to_str().unwrap(),
        "--tp",
        "2,4",
        "--emit-job",
        job.to_str().unwrap(),
        "--job-shards",
        "3",
        "--job-pvc",
        "plans",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("--merge SHARDS_DIR"), "{}", stdout(&o));
    let j = std::fs::read_to_string(job.join("plan-job.yaml")).unwrap();
    for want in [
        "completionMode: Indexed",
        "completions: 3",
        "parallelism: 3",
        "claimName: plans",
        "$(JOB_COMPLETION_INDEX)/3",
        "/etc/xpyd/scenario/chat.toml",
        "path: data/lens.csv",
    ] {
        assert!(j.contains(want), "{want} not in:\n{j}");
    }
    let cm = std::fs::read_to_string(job.join("plan-configmap.yaml")).unwrap();
    assert!(
        cm.contains("data__lens.csv") && cm.contains("chat.toml"),
        "{cm}"
    );

    // A referenced file too large for a ConfigMap is a clear error.
    let big = "num_prefill_tokens,num_decode_tokens\n".to_string() + &"1000,100\n".repeat(150_000);
    write(&d.join("data"), "lens.csv", &big);
    let o = xpyd(&[
        "plan",
        scenario.to_str().unwrap(),
        "--emit-job",
        d.join("job2").to_str().unwrap(),
    ]);
    fails_with(&o, "more than a ConfigMap holds");
}

/// Issue 15: shards cover the MoE split candidates (they are in the one enumeration the
/// shards split by index), so the merge of a MoE plan is its single-run plan; shards made
/// with `--moe-splits tp-only` do not merge into the split search (another fingerprint).
#[test]
fn moe_split_plans_shard_and_merge_byte_for_byte() {
    let d = tmpdir("plan-shard-moe");
    let moe = |extra: &[&str]| {
        let mut args = vec![
            "plan",
            "scenarios/gpt-oss-120b-pd-h200.toml",
            "--jobs",
            "1",
            "--gpus-max",
            "3",
            "--tp",
            "1,2",
            "--token-budgets",
            "8192",
            "--max-num-seqs",
            "1024",
            "--router",
            "round-robin",
            "--target-rate",
            "20",
            "--no-report",
        ];
        args.extend_from_slice(extra);
        xpyd(&args)
    };
    let (out, shards) = (d.join("plan"), d.join("shards"));
    let (out_s, shards_s) = (out.to_str().unwrap(), shards.to_str().unwrap());
    let single = moe(&["--out", out_s]);
    assert!(single.status.success(), "{}", stderr(&single));
    assert!(
        stdout(&single).contains("of them with DP-attention or expert parallelism"),
        "{}",
        stdout(&single)
    );
    let want = files(&out);
    std::fs::remove_dir_all(&out).unwrap();
    for s in ["0/2", "1/2"] {
        let o = moe(&["--shard", s, "--out", shards_s]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let merged = moe(&["--merge", shards_s, "--out", out_s]);
    assert!(merged.status.success(), "{}", stderr(&merged));
    assert_eq!(stdout(&merged), stdout(&single));
    assert!(
        files(&out) == want,
        "the merged MoE plan differs from the single run"
    );
    let o = moe(&[
        "--moe-splits",
        "tp-only",
        "--merge",
        shards_s,
        "--out",
        out_s,
    ]);
    fails_with(&o, "made for another scenario or other plan settings");
    let _ = std::fs::remove_dir_all(&d);
}

/// Issue 19 item 4: the shards cover the widened search of `xpyd bench`'s `plan-large`
/// (two GPU types with their heterogeneous pairs, three routers, two token budgets, the
/// MoE-split flag, probabilities over 5 seed replications), shrunk to a few GPUs: the
/// merge of three shards is the single run byte for byte, shards made with another
/// replication count do not merge, and `--emit-job` hands every one of those flags to
/// the Job's pods.
#[test]
fn widened_plans_with_intervals_shard_and_merge_byte_for_byte() {
    let d = tmpdir("plan-shard-large");
    let large = |extra: &[&str]| {
        let mut args = vec![
            "plan",
            "--jobs",
            "1",
            "--gpu",
            "l20,h20",
            "--gpus-max",
            "4",
            "--tp",
            "1,2",
            "--moe-splits",
            "auto",
            "--router",
            "round-robin,least-outstanding,power-of-two",
            "--token-budgets",
            "2048,8192",
            "--max-num-seqs",
            "1024",
            // Units of 3 and 4 GPUs go through the role screen (its estimates are in the
            // shard files).
            "--screen-above-gpus",
            "2",
            "--intervals",
            "on",
            "--probe-requests",
            "100",
            "--precision",
            "0.1",
            "--no-report",
        ];
        args.extend_from_slice(extra);
        xpyd(&args)
    };
    let (out, shards) = (d.join("plan"), d.join("shards"));
    let (out_s, shards_s) = (out.to_str().unwrap(), shards.to_str().unwrap());
    let single = large(&["--replications", "5", "--out", out_s]);
    assert!(single.status.success(), "{}", stderr(&single));
    let text = stdout(&single);
    assert!(text.contains("over 5 seed replication(s)"), "{text}");
    let csv = std::fs::read_to_string(out.join("plan.csv")).unwrap();
    for gpu in [",l20,", ",h20,", ",l20/h20,", ",h20/l20,"] {
        assert!(csv.contains(gpu), "no {gpu} candidate in:\n{csv}");
    }
    assert!(
        csv.lines().next().unwrap().ends_with(",estimate_rps"),
        "{csv}"
    );
    let want = files(&out);
    std::fs::remove_dir_all(&out).unwrap();
    for s in ["0/3", "1/3", "2/3"] {
        let o = large(&["--replications", "5", "--shard", s, "--out", shards_s]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let merged = large(&["--replications", "5", "--merge", shards_s, "--out", out_s]);
    assert!(merged.status.success(), "{}", stderr(&merged));
    assert_eq!(stdout(&merged), text);
    assert!(
        files(&out) == want,
        "the merged widened plan differs from the single run"
    );
    let o = large(&["--replications", "4", "--merge", shards_s, "--out", out_s]);
    fails_with(&o, "made for another scenario or other plan settings");
    let job = d.join("job");
    let o = large(&["--replications", "5", "--emit-job", job.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = std::fs::read_to_string(job.join("plan-job.yaml")).unwrap();
    for want in [
        "l20,h20",
        "round-robin,least-outstanding,power-of-two",
        "2048,8192",
        "--moe-splits",
        "--replications",
        "--intervals",
        "--screen-above-gpus",
    ] {
        assert!(j.contains(want), "{want} not in:\n{j}");
    }
    let _ = std::fs::remove_dir_all(&d);
}
