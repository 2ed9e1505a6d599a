//! Helpers: run the binary, make temporary folders and scenario files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub(crate) fn xpyd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xpyd"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run xpyd")
}

/// A fresh temporary folder unique to this test.
pub(crate) fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("xpyd-it-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub(crate) fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub(crate) fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A small, fast scenario: Qwen3-8B on H100, SGLang 1P1D.
pub(crate) const SMALL: &str = r#"
name = "small"
seed = 7
[model]
id = "qwen3-8b"
[hardware]
gpu = "h100"
[deployment]
backend = "sglang"
[deployment.prefill]
replicas = 1
tp = 1
[deployment.decode]
replicas = 1
tp = 1
[workload]
requests = 150
[workload.arrival]
kind = "poisson"
rate-rps = 4.0
[workload.input-tokens]
kind = "uniform"
min = 200
max = 2000
[workload.output-tokens]
kind = "uniform"
min = 10
max = 200
"#;

/// The flags of the small plan search the plan tests share (on the default scenario:
/// at most 4 GPUs, TP 2 and 4, one token budget, two routers, short probes).
pub(crate) const SMALL_PLAN: [&str; 14] = [
    "--gpus-max",
    "4",
    "--tp",
    "2,4",
    "--token-budgets",
    "4096",
    "--max-num-seqs",
    "1024",
    "--router",
    "round-robin,least-outstanding",
    "--probe-requests",
    "200",
    "--precision",
    "0.05",
];
