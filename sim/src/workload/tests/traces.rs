//! Traces: the built-in ones replayed, rescaled, capped and started late, and files on disk.

use super::*;

#[test]
fn builtin_traces_replay_every_row() {
    for (format, name, rows, span_s) in [
        ("azure-2023", "azure-2023-conv", 19_366, 3502.0),
        ("azure-2023", "azure-2023-code", 8_819, 3436.0),
        ("mooncake", "mooncake-conversation", 12_031, 3537.0),
        ("mooncake", "mooncake-synthetic", 3_993, 1022.0),
    ] {
        let w = trace_workload(format, &format!("builtin:{name}"), "");
        let r = open_all(&w, 1);
        check_trace(&r, rows);
        let span = r[rows - 1].arrival.as_secs_f64();
        assert!((span - span_s).abs() < 1.0, "{name}: span {span}");
        assert_eq!(
            r,
            open_all(&w, 99),
            "{name}: a trace does not depend on the seed"
        );
        if format == "mooncake" {
            assert!(r.iter().all(|r| r.hash_block_tokens == 512
                && r.block_hashes.len() == r.input_tokens.div_ceil(512) as usize));
        } else {
            assert!(
                r.iter()
                    .all(|r| r.block_hashes.is_empty() && r.hash_block_tokens == 0)
            );
        }
    }
    let r = open_all(
        &trace_workload("azure-2023", "builtin:azure-2023-conv", ""),
        1,
    );
    assert_eq!((r[0].input_tokens, r[0].output_tokens), (374, 44));
    assert_eq!(r[1].arrival, SimTime(4_314_579_000));
}

#[test]
fn trace_rescaling_cap_and_start() {
    let base = open_all(
        &trace_workload("azure-2023", "builtin:azure-2023-code", ""),
        1,
    );
    let half = open_all(
        &trace_workload("azure-2023", "builtin:azure-2023-code", "time-scale = 0.5"),
        1,
    );
    assert!(base.iter().zip(&half).all(|(a, b)| {
        let want = (a.arrival.as_nanos() as f64 * 0.5).round() as u64;
        b.arrival.as_nanos() == want && a.input_tokens == b.input_tokens
    }));
    let w = trace_workload("mooncake", "builtin:mooncake-synthetic", "rate-rps = 20.0");
    let r = open_all(&w, 1);
    let rate = (r.len() - 1) as f64 / r[r.len() - 1].arrival.as_secs_f64();
    assert!((rate / 20.0 - 1.0).abs() < 1e-6, "rate {rate}");
    let w = workload(
        "[workload]\nrequests = 100\n[workload.trace]\nformat = \"azure-2023\"\n\
         path = \"builtin:azure-2023-code\"\nstart-s = 600\n",
    );
    assert_eq!(w.requests(), Some(100));
    let r = open_all(&w, 1);
    check_trace(&r, 100);
    let first = base
        .iter()
        .position(|b| b.arrival.as_secs_f64() >= 600.0)
        .unwrap_or(0);
    assert_eq!(r[0].input_tokens, base[first].input_tokens);
    assert_eq!(
        r[99].arrival,
        SimTime(base[first + 99].arrival.as_nanos() - base[first].arrival.as_nanos())
    );
    assert!(
        w.describe()
            .starts_with("trace azure-2023 builtin:azure-2023-code"),
        "{}",
        w.describe()
    );
}

#[test]
fn trace_files_on_disk_plain_and_gzip() {
    let jsonl = b"{\"timestamp\": 5, \"input_length\": 513, \"output_length\": 2, \"hash_ids\": [7, 8]}\n\
                  {\"timestamp\": 9, \"input_length\": 3, \"output_length\": 4, \"hash_ids\": [7]}\n";
    let plain = scratch("m.jsonl");
    write(&plain, jsonl);
    let gz = scratch("m.jsonl.gz");
    write(&gz, &gzip(jsonl));
    for p in [&plain, &gz] {
        let r = open_all(&trace_workload("mooncake", &p.display().to_string(), ""), 1);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].block_hashes, vec![7, 8]);
        assert_eq!(r[1].arrival, SimTime(4_000_000));
    }
    let bad = scratch("bad.jsonl");
    write(&bad, b"{\"timestamp\": 5, \"input_length\": 5, \"output_length\": 2}\n{\"timestamp\": 6, \"input_length\": 5, \"output_length\": \"2\"}\n");
    let w = trace_workload("mooncake", &bad.display().to_string(), "");
    let e = WorkloadGen::new(&w, &Streams::new(1))
        .err()
        .map(|e| e.to_string());
    let e = e.unwrap_or_default();
    assert!(
        e.starts_with(&format!("{}:2: output_length: ", bad.display())),
        "{e}"
    );
}

/// A Mooncake JSONL file of `(timestamp ms, input, hash ids)` records, output 2 tokens.
fn mooncake_file(name: &str, rows: &[(u64, u32, &[u64])]) -> String {
    let mut text = String::new();
    for (ms, input, ids) in rows {
        text.push_str(&format!(
            "{{\"timestamp\": {ms}, \"input_length\": {input}, \"output_length\": 2, \"hash_ids\": {ids:?}}}\n"
        ));
    }
    let path = scratch(name);
    write(&path, text.as_bytes());
    path.display().to_string()
}

/// Tiling: copy k arrives k periods later (span + one mean gap) with its hash ids shifted
/// by k x (largest id + 1); the cap counts the tiled stream; one tile is no tiling.
#[test]
fn tiles_repeat_the_trace_with_fresh_ids() {
    // Three records over 4 s (mean gap 2 s): the period is 6 s; ids up to 9: stride 10.
    let f = mooncake_file(
        "tile.jsonl",
        &[(1000, 600, &[0, 9]), (3000, 10, &[0]), (5000, 1, &[4])],
    );
    let once = open_all(&trace_workload("mooncake", &f, ""), 1);
    assert_eq!(
        once,
        open_all(&trace_workload("mooncake", &f, "tiles = 1"), 1)
    );
    let w = trace_workload("mooncake", &f, "tiles = 3");
    assert!(w.describe().contains("tiled 3 times"), "{}", w.describe());
    let mut g = generator(&w, 1);
    assert_eq!(g.remaining(), 9);
    let tiled: Vec<RequestSpec> = std::iter::from_fn(|| g.next_open()).collect();
    assert_eq!(g.remaining(), 0);
    check_trace(&tiled, 9);
    for (i, r) in tiled.iter().enumerate() {
        let (k, base) = (i as u64 / 3, &once[i % 3]);
        assert_eq!(
            r.arrival.as_nanos(),
            base.arrival.as_nanos() + k * 6_000_000_000
        );
        let ids: Vec<u64> = base.block_hashes.iter().map(|h| h + 10 * k).collect();
        assert_eq!(r.block_hashes, ids);
        assert_eq!(
            (r.input_tokens, r.output_tokens),
            (base.input_tokens, base.output_tokens)
        );
    }
    // The cap counts tiled requests (not one copy's): 3 + 2.
    let w = workload(&format!(
        "[workload]\nrequests = 5\n[workload.trace]\nformat = \"mooncake\"\npath = \"{f}\"\ntiles = 3\n"
    ));
    let mut g = generator(&w, 1);
    assert_eq!(g.remaining(), 5);
    let capped: Vec<RequestSpec> = std::iter::from_fn(|| g.next_open()).collect();
    assert_eq!(capped[..], tiled[..5]);
    // Rate rescaling applies to each copy; the tiled stream keeps that mean rate.
    let w = trace_workload(
        "mooncake",
        "builtin:mooncake-conversation",
        "rate-rps = 50.0\ntiles = 4",
    );
    let r = open_all(&w, 1);
    check_trace(&r, 4 * 12_031);
    let rate = (r.len() - 1) as f64 / r[r.len() - 1].arrival.as_secs_f64();
    assert!((rate / 50.0 - 1.0).abs() < 1e-3, "rate {rate}");
    // Copies share no prefix: the last copy's ids are all above the first copy's.
    let max0 = r[..12_031].iter().flat_map(|q| q.block_hashes.iter()).max();
    let min3 = r[3 * 12_031..]
        .iter()
        .flat_map(|q| q.block_hashes.iter())
        .min();
    assert!(min3 > max0, "{min3:?} <= {max0:?}");
}

/// What cannot be tiled fails when the trace is read, naming `workload.trace.tiles`.
#[test]
fn untileable_traces_name_the_field() {
    let one = mooncake_file("one.jsonl", &[(7, 3, &[1])]);
    let same = mooncake_file("same.jsonl", &[(7, 3, &[1]), (7, 5, &[2])]);
    let huge = mooncake_file("huge.jsonl", &[(0, 3, &[u64::MAX - 1]), (1, 5, &[2])]);
    let far = mooncake_file("far.jsonl", &[(0, 3, &[1]), (1_000_000_000, 5, &[2])]);
    for (f, extra, what) in [
        (&one, "tiles = 2", "two or more records"),
        (&same, "tiles = 2", "spanning 0 ns"),
        (&huge, "tiles = 2", "do not fit 64 bits"),
        (&far, "tiles = 100", "longest run"),
        (&far, "tiles = 60000000", "more than 100000000"),
    ] {
        let w = trace_workload("mooncake", f, extra);
        let e = WorkloadGen::new(&w, &Streams::new(1))
            .err()
            .map(|e| e.to_string());
        let e = e.unwrap_or_default();
        assert!(
            e.starts_with("workload.trace.tiles: ") && e.contains(what),
            "{f} {extra}: {e}"
        );
    }
    // One tile of those replays as before; a cap keeps the copies issued in range.
    assert_eq!(
        open_all(&trace_workload("mooncake", &huge, "tiles = 1"), 1).len(),
        2
    );
    let w = workload(&format!(
        "[workload]\nrequests = 4\n[workload.trace]\nformat = \"mooncake\"\npath = \"{far}\"\ntiles = 60000000\n"
    ));
    assert_eq!(open_all(&w, 1).len(), 4);
}
