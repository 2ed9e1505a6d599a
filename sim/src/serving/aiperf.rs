//! AIPerf `profile_export_aiperf.json` and genai-perf `profile_export_genai_perf.json`:
//! one run per file. Each metric is an object `{"unit": "ms", "avg", "p50", "p90",
//! "p99", ...}`: `time_to_first_token`, `inter_token_latency` (per request
//! `(latency - TTFT) / (output tokens - 1)`, i.e. TPOT), `request_throughput`,
//! `input_sequence_length`, `output_sequence_length`. The load is read from
//! `input_config` (`loadgen.concurrency` / `loadgen.request_rate` for AIPerf,
//! `concurrency` / `request_rate` or `perf_analyzer.stimulus.*` for genai-perf). The file
//! names no deployment. AIPerf's layout (metrics `{unit, avg, p50, ...}`, `request_count.avg`,
//! `input_config.loadgen.{concurrency, request_count}`) as its documentation shows it
//! (ai-dynamo/aiperf `docs/tutorials/working-with-profile-exports.md`); that document notes
//! `input_config` is not guaranteed stable across versions, hence the fallbacks.

use super::{Format, Json, Load, MeasuredRun, ServingError, Stat, tokens};
use serde_json::Value;

/// Milliseconds per `unit`.
fn ms_per(j: &Json<'_>, metric: &str) -> Result<f64, ServingError> {
    let path = format!("{metric}.unit");
    match j.get(&path).and_then(Value::as_str) {
        None | Some("ms") => Ok(1.0),
        Some("s" | "sec") => Ok(1e3),
        Some("us") => Ok(1e-3),
        Some("ns") => Ok(1e-6),
        Some(u) => Err(j.err(&path, format!("unknown time unit {u:?} (ms, s, us, ns)"))),
    }
}

fn stat(j: &Json<'_>, metric: &str) -> Result<Stat, ServingError> {
    let k = ms_per(j, metric)?;
    let get = |s: &str| -> Result<Option<f64>, ServingError> {
        Ok(j.num(&format!("{metric}.{s}"))?.map(|x| x * k))
    };
    Ok(Stat {
        mean: Some(j.req(&format!("{metric}.avg"))? * k),
        p50: get("p50")?,
        p90: get("p90")?,
        p99: get("p99")?,
    })
}

fn first(j: &Json<'_>, paths: &[&str]) -> Result<Option<f64>, ServingError> {
    for p in paths {
        if let Some(x) = j.num(p)? {
            return Ok(Some(x));
        }
    }
    Ok(None)
}

pub(super) fn read(j: &Json<'_>) -> Result<Vec<MeasuredRun>, ServingError> {
    let ttft_ms = stat(j, "time_to_first_token")?;
    let tpot_ms = stat(j, "inter_token_latency")?;
    let clients = first(
        j,
        &[
            "input_config.loadgen.concurrency",
            "input_config.concurrency",
            "input_config.perf_analyzer.stimulus.concurrency",
        ],
    )?;
    let rate = first(
        j,
        &[
            "input_config.loadgen.request_rate",
            "input_config.request_rate",
            "input_config.perf_analyzer.stimulus.request_rate",
        ],
    )?;
    let load = Load {
        clients: clients.map(|c| c.max(1.0) as u32),
        rate_rps: if clients.is_none() { rate } else { None },
        requests: first(
            j,
            &["request_count.avg", "input_config.loadgen.request_count"],
        )?
        .map(|n| n as u64),
        input_tokens: tokens(j.num("input_sequence_length.avg")?),
        output_tokens: tokens(j.num("output_sequence_length.avg")?),
    };
    let model = j
        .get("input_config.endpoint.model_names")
        .and_then(|v| v.get(0))
        .or_else(|| j.get("input_config.model_names").and_then(|v| v.get(0)))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    Ok(vec![MeasuredRun {
        id: j.stem(),
        file: j.file.to_path_buf(),
        format: Format::Aiperf,
        backend: String::new(),
        backend_version: String::new(),
        gpu: String::new(),
        mode: String::new(),
        model,
        load,
        ttft_ms,
        tpot_ms,
        throughput_rps: j.num("request_throughput.avg")?,
        scenario_toml: None,
        skip: None,
        notes: Vec::new(),
    }])
}
