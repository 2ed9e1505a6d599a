//! Same scenario and seed give byte-identical outputs; another seed differs.

use crate::common::*;

fn run_to(dir: &std::path::Path, scenario: &std::path::Path, seed: &str) {
    let o = xpyd(&[
        "run",
        scenario.to_str().unwrap(),
        "--seed",
        seed,
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn same_seed_same_bytes_other_seed_differs() {
    let dir = tmpdir("determinism");
    let sc = write(&dir, "small.toml", SMALL);
    let (a, b, c) = (dir.join("a"), dir.join("b"), dir.join("c"));
    run_to(&a, &sc, "11");
    run_to(&b, &sc, "11");
    run_to(&c, &sc, "12");
    for f in ["summary.json", "requests.csv", "timeseries.csv"] {
        let fa = std::fs::read(a.join(f)).unwrap();
        assert_eq!(
            fa,
            std::fs::read(b.join(f)).unwrap(),
            "{f} differs between identical runs"
        );
        assert_ne!(
            fa,
            std::fs::read(c.join(f)).unwrap(),
            "{f} identical across seeds"
        );
    }
    // No partial files are left behind.
    for d in [&a, &b, &c] {
        for e in std::fs::read_dir(d).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!name.ends_with(".partial"), "{name}");
        }
    }
}
