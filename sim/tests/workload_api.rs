//! The workload module through its public API only, as the engine and CLI use it.

use std::path::Path;

use serde::Deserialize;
use xpyd_sim::SimTime;
use xpyd_sim::rng::Streams;
use xpyd_sim::workload::{ArrivalMode, Workload, WorkloadError, WorkloadFile, WorkloadGen};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    workload: WorkloadFile,
}

fn load(text: &str) -> Result<Workload, WorkloadError> {
    let de = toml::Deserializer::parse(text).map_err(|e| WorkloadError::Invalid {
        field: "toml".into(),
        message: e.to_string(),
    })?;
    let doc: Doc = serde_path_to_error::deserialize(de).map_err(|e| WorkloadError::Invalid {
        field: e.path().to_string(),
        message: e.inner().to_string(),
    })?;
    Workload::from_file(doc.workload, Path::new("."))
}

#[test]
fn sharegpt_lengths_with_gamma_arrivals() -> Result<(), WorkloadError> {
    let w = load(
        r#"
[workload]
requests = 1000
[workload.arrival]
kind = "gamma"
rate-rps = 5.0
cv = 2.0
[workload.lengths]
kind = "empirical-joint"
path = "builtin:sharegpt"
"#,
    )?;
    assert_eq!(w.mode(), ArrivalMode::Open);
    let mut g = WorkloadGen::new(&w, &Streams::new(7))?;
    let mut n = 0;
    let mut last = SimTime::ZERO;
    while let Some(r) = g.next_open() {
        assert!(r.arrival >= last && r.input_tokens >= 1 && r.output_tokens >= 1);
        assert!(r.input_tokens + r.output_tokens <= 8192 + 1024);
        last = r.arrival;
        n += 1;
    }
    assert_eq!(n, 1000);
    Ok(())
}

#[test]
fn mooncake_trace_carries_prefix_hashes() -> Result<(), WorkloadError> {
    let w = load(
        "[workload]\nrequests = 50\n[workload.trace]\nformat = \"mooncake\"\n\
         path = \"builtin:mooncake-conversation\"\nrate-rps = 10.0\n",
    )?;
    let mut g = WorkloadGen::new(&w, &Streams::new(1))?;
    let first = g.next_open();
    assert_eq!(first.as_ref().map(|r| r.arrival), Some(SimTime::ZERO));
    assert_eq!(first.as_ref().map(|r| r.hash_block_tokens), Some(512));
    assert_eq!(std::iter::from_fn(|| g.next_open()).count(), 49);
    Ok(())
}

#[test]
fn errors_are_typed_and_name_the_field() {
    let e =
        load("[workload]\nrequests = 5\n[workload.arrival]\nkind = \"constant\"\nrate-rps = -1\n");
    match e {
        Err(WorkloadError::Invalid { field, .. }) => assert_eq!(field, "workload.arrival.rate-rps"),
        other => panic!("{other:?}"),
    }
}
