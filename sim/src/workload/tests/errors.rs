//! Errors name the field; the workload file round-trips through TOML and JSON.

use super::*;

#[test]
fn toml_errors_name_the_field() {
    let cases = [
        // Unknown key at the top and inside tagged tables.
        ("[workload]\nrequest = 5\n", "workload.request"),
        (
            "[workload]\n[workload.arrival]\nkind = \"poisson\"\nrate = 1\n",
            "workload.arrival",
        ),
        (
            "[workload]\n[workload.arrival]\nkind = \"poison\"\nrate-rps = 1\n",
            "workload.arrival.kind",
        ),
        // Wrong types.
        ("[workload]\nrequests = \"many\"\n", "workload.requests"),
        ("[workload]\nrequests = -3\n", "workload.requests"),
        (
            "[workload]\n[workload.trace]\nformat = \"azure\"\npath = \"x\"\n",
            "workload.trace.format",
        ),
        (
            "[workload]\n[workload.trace]\nformat = \"mooncake\"\npath = 3\n",
            "workload.trace.path",
        ),
        (
            "[workload]\n[workload.input-tokens]\nkind = \"fixed\"\ntokens = -1\n",
            "workload.input-tokens",
        ),
    ];
    for (text, path) in cases {
        let e = match parse(text) {
            Ok(f) => panic!("accepted {text}: {f:?}"),
            Err(e) => e,
        };
        assert!(e.starts_with(&format!("{path}: ")), "{text} -> {e}");
    }
    // Inside a tagged table the message names the key and the TOML error its line.
    let e = parse("[workload]\n[workload.arrival]\nkind = \"poisson\"\nrate = 1\n");
    let e = e.err().unwrap_or_default();
    assert!(
        e.contains("unknown field `rate`, expected `rate-rps`"),
        "{e}"
    );
    assert!(e.contains("line 2"), "{e}");
}

#[test]
fn validation_errors_name_the_field() {
    let here = Path::new(".");
    let syn = |arrival: &str, lengths: &str| {
        format!("[workload]\nrequests = 10\n[workload.arrival]\n{arrival}\n{lengths}")
    };
    let fixed = "[workload.input-tokens]\nkind = \"fixed\"\ntokens = 5\n\
                 [workload.output-tokens]\nkind = \"fixed\"\ntokens = 5\n";
    let cases: Vec<(String, &str)> = vec![
        (syn("kind = \"poisson\"\nrate-rps = -2", fixed), "workload.arrival.rate-rps"),
        (syn("kind = \"gamma\"\nrate-rps = 2\ncv = 0", fixed), "workload.arrival.cv"),
        (syn("kind = \"constant\"\nrate-rps = 0", fixed), "workload.arrival.rate-rps"),
        (
            syn(
                "kind = \"poisson\"\nrate-rps = 2",
                "[workload.input-tokens]\nkind = \"uniform\"\nmin = 9\nmax = 3\n\
                 [workload.output-tokens]\nkind = \"fixed\"\ntokens = 5\n",
            ),
            "workload.input-tokens.max",
        ),
        (
            syn(
                "kind = \"poisson\"\nrate-rps = 2",
                "[workload.input-tokens]\nkind = \"fixed\"\ntokens = 5\n",
            ),
            "workload.output-tokens",
        ),
        (
            syn(
                "kind = \"poisson\"\nrate-rps = 2",
                "[workload.input-tokens]\nkind = \"fixed\"\ntokens = 5\n\
                 [workload.output-tokens]\nkind = \"fixed\"\ntokens = 0\n",
            ),
            "workload.output-tokens.tokens",
        ),
        (
            syn(
                "kind = \"poisson\"\nrate-rps = 2",
                &format!(
                    "{fixed}[workload.lengths]\nkind = \"empirical-joint\"\npath = \"builtin:sharegpt\"\n"
                ),
            ),
            "workload.input-tokens",
        ),
        (
            syn(
                "kind = \"poisson\"\nrate-rps = 2",
                "[workload.lengths]\nkind = \"empirical-joint\"\npath = \"no/such/file.csv\"\n",
            ),
            "workload.lengths.path",
        ),
        (
            syn(
                "kind = \"poisson\"\nrate-rps = 2",
                "[workload.lengths]\nkind = \"empirical-joint\"\npath = \"builtin:mooncake-synthetic\"\n",
            ),
            "workload.lengths.path",
        ),
        ("[workload]\n[workload.arrival]\nkind = \"poisson\"\nrate-rps = 1\n".into(), "workload.requests"),
        (format!("[workload]\nrequests = 3\n{fixed}"), "workload.arrival"),
        ("[workload]\nrequests = 0\n".into(), "workload.requests"),
        (
            "[workload]\n[workload.arrival]\nkind = \"poisson\"\nrate-rps = 1\n\
             [workload.trace]\nformat = \"mooncake\"\npath = \"builtin:mooncake-synthetic\"\n"
                .into(),
            "workload.arrival",
        ),
        (
            "[workload]\n[workload.trace]\nformat = \"mooncake\"\npath = \"missing.jsonl\"\n".into(),
            "workload.trace.path",
        ),
        (
            "[workload]\n[workload.trace]\nformat = \"mooncake\"\npath = \"builtin:azure-2023-conv\"\n"
                .into(),
            "workload.trace.format",
        ),
        (
            "[workload]\n[workload.trace]\nformat = \"mooncake\"\npath = \"builtin:sharegpt\"\n"
                .into(),
            "workload.trace.path",
        ),
        (
            "[workload]\n[workload.trace]\nformat = \"azure-2023\"\npath = \"builtin:azure-2023-conv\"\n\
             time-scale = 2.0\nrate-rps = 3.0\n"
                .into(),
            "workload.trace.rate-rps",
        ),
        (
            "[workload]\n[workload.trace]\nformat = \"azure-2023\"\npath = \"builtin:azure-2023-conv\"\n\
             time-scale = -1.0\n"
                .into(),
            "workload.trace.time-scale",
        ),
        (
            "[workload]\n[workload.trace]\nformat = \"azure-2023\"\npath = \"builtin:azure-2023-conv\"\n\
             start-s = -1.0\n"
                .into(),
            "workload.trace.start-s",
        ),
        (
            "[workload]\n[workload.trace]\nformat = \"azure-2023\"\npath = \"builtin:azure-2023-conv\"\n\
             tiles = 0\n"
                .into(),
            "workload.trace.tiles",
        ),
        (
            "[workload]\n[workload.trace]\nformat = \"azure-2023\"\npath = \"builtin:azure-2023-conv\"\n\
             tiles = 100000001\n"
                .into(),
            "workload.trace.tiles",
        ),
    ];
    for (text, field) in cases {
        let e = invalid(&text, here);
        assert_eq!(e.field(), field, "{text} -> {e}");
        assert!(e.to_string().starts_with(&format!("{field}: ")), "{e}");
    }
    // A missing file's error names the file.
    let e = invalid(
        "[workload]\n[workload.trace]\nformat = \"mooncake\"\npath = \"missing.jsonl\"\n",
        Path::new("/nonexistent-dir"),
    );
    assert!(
        e.to_string().contains("/nonexistent-dir/missing.jsonl"),
        "{e}"
    );
    // start-s past the end is found when the trace is read.
    let w = trace_workload("azure-2023", "builtin:azure-2023-code", "start-s = 1e6");
    let e = WorkloadGen::new(&w, &Streams::new(1)).err();
    assert_eq!(
        e.as_ref().map(WorkloadError::field),
        Some("workload.trace.start-s")
    );
}

#[test]
fn workload_file_round_trips_through_toml_and_json() {
    #[derive(serde::Serialize)]
    struct Out<'a> {
        workload: &'a WorkloadFile,
    }
    let texts = [
        POISSON.to_owned(),
        format!("{POISSON}[workload.prefix]\nkind = \"shared-prompt\"\nprompts = 2\ntokens = 64\n"),
        "[workload]\nrequests = 9\n[workload.arrival]\nkind = \"schedule\"\n\
         points = [{ at-s = 0, rate-rps = 1 }, { at-s = 5, rate-rps = 3 }]\n\
         interpolation = \"step\"\nrepeat-s = 10\n[workload.lengths]\n\
         kind = \"empirical-joint\"\npath = \"builtin:sharegpt\"\n"
            .to_owned(),
        "[workload]\n[workload.trace]\nformat = \"azure-2023\"\npath = \"x.csv\"\nstart-s = 3\n"
            .to_owned(),
    ];
    for text in texts {
        let f = parse(&text).unwrap_or_else(|e| panic!("{e}"));
        let back = toml::to_string(&Out { workload: &f }).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parse(&back), Ok(f.clone()), "{back}");
        let json = serde_json::to_string(&f).unwrap_or_else(|e| panic!("{e}"));
        let again: WorkloadFile = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again, f);
    }
}
