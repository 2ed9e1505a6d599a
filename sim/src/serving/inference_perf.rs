//! kubernetes-sigs/inference-perf `summary_lifecycle_metrics.json`: one run per file.
//! Latencies are in seconds under `successes.latency.{time_to_first_token,
//! time_per_output_token}` (`mean`, `median`, `p90`, `p99`, ...); throughput in
//! `successes.throughput.requests_per_sec`; lengths are the means `successes.prompt_len.mean`
//! and `successes.output_len.mean`. The load is open-loop: `load_summary.requested_rate`
//! when present, else the achieved `successes.throughput.requests_per_sec`, replayed as
//! Poisson arrivals. The file names no deployment.

use super::{Format, Json, Load, MeasuredRun, ServingError, Stat, tokens};

fn stat(j: &Json<'_>, metric: &str) -> Result<Stat, ServingError> {
    let base = format!("successes.latency.{metric}");
    let get = |s: &str| -> Result<Option<f64>, ServingError> {
        Ok(j.num(&format!("{base}.{s}"))?.map(|x| x * 1e3))
    };
    Ok(Stat {
        mean: Some(j.req(&format!("{base}.mean"))? * 1e3),
        p50: get("median")?,
        p90: get("p90")?,
        p99: get("p99")?,
    })
}

pub(super) fn read(j: &Json<'_>) -> Result<Vec<MeasuredRun>, ServingError> {
    let ttft_ms = stat(j, "time_to_first_token")?;
    let tpot_ms = stat(j, "time_per_output_token")?;
    let achieved = j.num("successes.throughput.requests_per_sec")?;
    let requested = j.num("load_summary.requested_rate")?;
    let mut notes = Vec::new();
    if requested.is_none() {
        notes.push("no load_summary.requested_rate: replayed at the achieved rate".into());
    }
    let load = Load {
        clients: None,
        rate_rps: requested.or(achieved),
        requests: j.num("successes.count")?.map(|n| n as u64),
        input_tokens: tokens(j.num("successes.prompt_len.mean")?),
        output_tokens: tokens(j.num("successes.output_len.mean")?),
    };
    Ok(vec![MeasuredRun {
        id: j.stem(),
        file: j.file.to_path_buf(),
        format: Format::InferencePerf,
        backend: String::new(),
        backend_version: String::new(),
        gpu: String::new(),
        mode: String::new(),
        model: String::new(),
        load,
        ttft_ms,
        tpot_ms,
        throughput_rps: achieved,
        scenario_toml: None,
        skip: None,
        notes,
    }])
}
