//! r18 (<https://github.com/xpyd/xpyd/issues/18>): what the fuzz targets found, as CLI
//! tests (exit 2, the message naming the field, the value and the range or the reason);
//! the inputs themselves are in the corpus.

use crate::common::{stderr, tmpdir, write, xpyd};

/// A path that is not a regular file read without end (`/dev/zero`) or blocked (a FIFO).
#[test]
fn r18_fuzz_paths_that_are_not_regular_files() {
    for set in [
        "model.id=\"/dev/zero\"",
        "hardware.profile=\"/dev/zero\"",
        "deployment.engine-profile=\"/dev/zero\"",
    ] {
        let o = xpyd(&["run", "--requests", "5", "--no-report", "--set", set]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{set}: {err}");
        let field = set.split('=').next().unwrap();
        assert!(
            err.contains(field) && err.contains("not a regular file"),
            "{set}: {err}"
        );
    }
    let o = xpyd(&["run", "/dev/zero"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/dev/zero") && stderr(&o).contains("not a regular file"));
}

/// A `config.json` whose sizes are out of range: looped over 4 billion layers, or
/// overflowed adding MLA head widths.
#[test]
fn r18_fuzz_config_json_sizes_out_of_range() {
    let dir = tmpdir("r18-fuzz-config");
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/corpus/profile");
    for (file, message) in [
        (
            "found-layers-u32-max.config.json",
            "num_hidden_layers: 4294967295 must be in [1, 16384]",
        ),
        (
            "found-mla-head-dim-overflow.config.json",
            "qk_nope_head_dim: 4294967295 must be in [1, 1048576]",
        ),
    ] {
        let text = std::fs::read_to_string(corpus.join(file)).unwrap();
        write(&dir, "config.json", &text);
        let sc = write(
            &dir,
            "s.toml",
            &crate::common::SMALL.replace("id = \"qwen3-8b\"", "id = \"config.json\""),
        );
        let o = xpyd(&[
            "run",
            sc.to_str().unwrap(),
            "--no-report",
            "--out",
            dir.join("out").to_str().unwrap(),
        ]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{file}: {err}");
        assert!(
            err.contains("config.json") && err.contains(message),
            "{file}: {err}"
        );
    }
}

/// An autoscaler's timer fires over an idle run: 10^7 HPA syncs each scanning the
/// 33,000 recommendations of a 300 s window (a 9 ms sync period over a day) ran for hours.
#[test]
fn r18_fuzz_autoscaler_timer_work_is_bounded() {
    let o = xpyd(&[
        "run",
        "scenarios/autoscale-burst.toml",
        "--requests",
        "5",
        "--no-report",
        "--set",
        "deployment.aggregated.autoscale.sync-period-s=0.009",
        "--set",
        "workload.arrival={kind=\"poisson\",rate-rps=1e-6}",
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("deployment.aggregated.autoscale.sync-period-s: 0.009 s fires 9600000 times")
            && err.contains("over the limit of 1000000000"),
        "{err}"
    );
}
