//! `vllm bench serve --save-result` JSON (vLLM's `benchmarks/benchmark_serving.py`):
//! one run per file. Latencies are already ms: `mean_ttft_ms`, `median_ttft_ms`,
//! `p90_ttft_ms`/`p99_ttft_ms` (the `--metric-percentiles` it was run with),
//! `mean_tpot_ms`, ...; load from `max_concurrency` (closed loop), else `request_rate`
//! (Poisson; `"inf"` with no concurrency cap sends every prompt at once, replayed as
//! `num_prompts` clients); lengths are the means `total_input_tokens / completed` and
//! `total_output_tokens / completed`. The file names no deployment.

use super::{Format, Json, Load, MeasuredRun, ServingError, Stat, tokens};
use serde_json::Value;

pub(super) fn read(j: &Json<'_>) -> Result<Vec<MeasuredRun>, ServingError> {
    let stat = |m: &str| -> Result<Stat, ServingError> {
        Ok(Stat {
            mean: Some(j.req(&format!("mean_{m}_ms"))?),
            p50: j.num(&format!("median_{m}_ms"))?,
            p90: j.num(&format!("p90_{m}_ms"))?,
            p99: j.num(&format!("p99_{m}_ms"))?,
        })
    };
    let ttft_ms = stat("ttft")?;
    let tpot_ms = stat("tpot")?;
    let completed = j.num("completed")?;
    let per_request = |total: &str| -> Result<Option<u32>, ServingError> {
        Ok(match (j.num(total)?, completed) {
            (Some(t), Some(c)) if c > 0.0 => tokens(Some(t / c)),
            _ => None,
        })
    };
    let num_prompts = j.num("num_prompts")?;
    let rate = match j.get("request_rate") {
        None => None,
        Some(Value::String(s)) if s == "inf" || s == "Infinity" => None,
        Some(_) => j.num("request_rate")?.filter(|r| r.is_finite()),
    };
    let concurrency = j.num("max_concurrency")?;
    let mut notes = Vec::new();
    let load = Load {
        clients: match (concurrency, rate) {
            (Some(c), _) => Some(c.max(1.0) as u32),
            (None, None) => {
                notes.push("request_rate inf, no max_concurrency: every prompt at once".into());
                num_prompts.map(|n| n.max(1.0) as u32)
            }
            (None, Some(_)) => None,
        },
        rate_rps: if concurrency.is_none() { rate } else { None },
        requests: completed.or(num_prompts).map(|n| n as u64),
        input_tokens: per_request("total_input_tokens")?,
        output_tokens: per_request("total_output_tokens")?,
    };
    if concurrency.is_some() && rate.is_some() {
        notes.push("both max_concurrency and request_rate: replayed closed-loop".into());
    }
    let text = |k: &str| j.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    Ok(vec![MeasuredRun {
        id: j.stem(),
        file: j.file.to_path_buf(),
        format: Format::VllmBench,
        backend: text("backend"),
        backend_version: String::new(),
        gpu: String::new(),
        mode: String::new(),
        model: text("model_id"),
        load,
        ttft_ms,
        tpot_ms,
        throughput_rps: j.num("request_throughput")?,
        scenario_toml: None,
        skip: None,
        notes,
    }])
}
