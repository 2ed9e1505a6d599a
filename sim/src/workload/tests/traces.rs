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
