//! NVIDIA AIConfigurator's silicon-sample CSV (`../shared/reference/engine-benchmarks`):
//! one measured configuration per row, deployment included. Columns are upstream's
//! (`id`, `backend`, `model_path`, `system`, `mode`, `isl`, `osl`, `batch_size`,
//! `tp_size`, ..., `prefill_*`, `decode_*`, `silicon_data_source`, `silicon_ttft_ms`,
//! `silicon_tpot_ms`; see that folder's README).
//!
//! Each row becomes a closed-loop run as its campaign's client ran it ([`client::Campaign`], read
//! from `silicon_data_source`): clients = `silicon_concurrency` (else `batch_size` for
//! agg), 10 requests per client (at least 30; 50 for AIConfigurator's AIPerf harness, whose
//! 100 prompts repeat, [`client::aiperf_harness`]), every client starting at once (no
//! warm-up, see [`client::WARMUP_PER_CLIENT`]), `isl`/`osl` fixed (AIConfigurator's sweeps) or
//! uniform in `[0.8 x L, L]` (InferenceX), and the row's
//! deployment as a scenario: `h100_sxm` -> `h100`, `h200_sxm` -> `h200`, model from
//! `model_path` when the catalog has its architecture, FP8 or BF16 weights (the CSV does
//! not record the KV cache's format: BF16, but FP8 where a recipe says so or TensorRT-LLM
//! runs a ModelOpt FP8 checkpoint, [`modelopt_fp8`]), per role `tp_size x
//! attention_dp_size` GPUs with DP-attention `attention_dp_size` and expert parallelism
//! `moe_ep_size` ([`parallelism`]),
//! `*_num_workers` replicas per role, `batch_size` (per attention-DP rank) times the ranks
//! as `max-num-seqs`. `trtllm` rows are replayed as `backend = "trtllm"`
//! (aggregated: as AIConfigurator's benchmark rule deploys it for its own sweeps, else
//! TensorRT-LLM's defaults with chunked prefill on, see `row`; PD: Dynamo with
//! TensorRT-LLM workers); InferenceX rows with a known recipe take its settings
//! ([`inferencex_recipe`]: FP8 KV cache and vLLM's scheduler settings for Llama-3.1-70B
//! FP8; the token budget, memory fraction and KV format of DeepSeek-R1 FP8 on H200); every row takes its engine's built-in engine layer
//! (`engine-profile = "auto"`). Rows with pipeline parallelism, MoE columns that do not
//! multiply to the role's GPUs, PD rows without their worker counts (but InferenceX
//! Dynamo runs whose deployment its master config publishes: [`inferencex_pd`]), FP4/INT4 weights
//! (but a checkpoint's own MXFP4 experts: gpt-oss),
//! other GPUs or models outside the catalog are read with a skip reason.

use super::{Format, Load, MeasuredRun, ServingError, Stat};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use xpyd_models::{GpuSpec, ModelArch};

mod client;
mod inferencex_pd;

use client::{Campaign, client_connection_cap, concurrency, workload};
use inferencex_pd::{Found, Query};

/// One CSV row by column name.
struct Rec<'a> {
    file: &'a Path,
    line: u64,
    cols: BTreeMap<&'a str, &'a str>,
}

impl Rec<'_> {
    fn err(&self, col: &str, message: impl Into<String>) -> ServingError {
        ServingError::Field {
            file: self.file.to_path_buf(),
            field: format!("line {}: {col}", self.line),
            message: message.into(),
        }
    }

    fn text(&self, col: &str) -> &str {
        self.cols.get(col).copied().unwrap_or("")
    }

    fn req_text(&self, col: &str) -> Result<&str, ServingError> {
        match self.text(col) {
            "" => Err(self.err(col, "missing (required)")),
            s => Ok(s),
        }
    }

    /// An optional unsigned integer column (empty: `None`).
    fn uint(&self, col: &str) -> Result<Option<u32>, ServingError> {
        match self.text(col) {
            "" => Ok(None),
            s => s
                .parse::<u32>()
                .map(Some)
                .map_err(|_| self.err(col, format!("{s:?} is not a whole number"))),
        }
    }

    fn req_uint(&self, col: &str) -> Result<u32, ServingError> {
        self.uint(col)?
            .filter(|n| *n >= 1)
            .ok_or_else(|| self.err(col, "missing or < 1 (a whole number >= 1 is required)"))
    }

    fn req_ms(&self, col: &str) -> Result<f64, ServingError> {
        let s = self.req_text(col)?;
        match s.parse::<f64>() {
            Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
            _ => Err(self.err(col, format!("{s:?} is not a finite number > 0"))),
        }
    }
}

/// The catalog id of a Hugging Face model id, and a note when it is a stand-in.
fn catalog_model(hf: &str) -> Option<(String, Option<String>)> {
    let norm = |s: &str| {
        let name = s.rsplit('/').next().unwrap_or(s).to_ascii_lowercase();
        name.trim_end_matches("-fp8")
            .trim_end_matches("-instruct")
            .to_owned()
    };
    ModelArch::catalog_ids()
        .iter()
        .filter_map(|id| ModelArch::builtin(id).ok())
        .find(|m| norm(&m.hf_repo) == norm(hf))
        .map(|m| (m.id, None))
}

/// One role's split as the CSV records it (`prefix` is `""`, `prefill_` or `decode_`):
/// `tp_size x attention_dp_size` GPUs per instance, DP-attention `attention_dp_size`,
/// expert parallelism `moe_ep_size` (AIConfigurator's convention, TensorRT-LLM's and
/// SGLang's: with expert parallelism the MoE layers split the same GPUs as
/// `moe_tp_size x moe_ep_size`); a missing or 0 column is 1. The reason it cannot be
/// simulated instead, if any: pipeline parallelism, or MoE columns that do not multiply
/// to the GPUs.
fn parallelism(r: &Rec<'_>, prefix: &str) -> Result<Result<Split, String>, ServingError> {
    let col = |c: &str| format!("{prefix}{c}");
    let get = |c: &str| -> Result<u32, ServingError> { Ok(r.uint(&col(c))?.unwrap_or(0).max(1)) };
    let pp = get("pp_size")?;
    if pp > 1 {
        return Ok(Err(format!(
            "{} = {pp}: pipeline parallelism is not modelled yet",
            col("pp_size")
        )));
    }
    let (tp, dp, ep) = (
        get("tp_size")?,
        get("attention_dp_size")?,
        get("moe_ep_size")?,
    );
    let gpus = tp.saturating_mul(dp);
    // Without expert parallelism the experts split like everything else (dense rows
    // record `moe_tp_size` 1 whatever their TP).
    let moe_tp = r.uint(&col("moe_tp_size"))?.filter(|n| *n > 0 && ep > 1);
    if let Some(m) = moe_tp
        && m.saturating_mul(ep) != gpus
    {
        return Ok(Err(format!(
            "{} x {} = {} differs from {} x {} = {gpus} GPUs",
            col("moe_tp_size"),
            col("moe_ep_size"),
            m.saturating_mul(ep),
            col("tp_size"),
            col("attention_dp_size")
        )));
    }
    Ok(Ok(Split { gpus, dp, ep }))
}

/// An InferenceX row whose MoE columns multiply its GPUs by its expert parallelism, as
/// the conversion to this CSV wrote InferenceX's `tp` t and `ep` e: `tp_size` t x e (or
/// `attention_dp_size` t x e with DP-attention), `moe_tp_size` t, `moe_ep_size` e. Every
/// such row is an aggregated run of one 8-GPU node (or 4 GPUs) recorded as 16 to 64 GPUs
/// (TensorRT-LLM DeepSeek-R1 at TP 8 / EP 8 as `tp_size` 64, gpt-oss-120b at TP 4 / EP 4
/// as 16); InferenceX runs pure expert parallelism (its MoE TP is 1 whenever EP > 1).
/// The split it ran: t GPUs, EP e, DP-attention over all t when the row has it; the
/// note says so. `None` for any other row.
fn inferencex_split(
    r: &Rec<'_>,
    prefix: &str,
    recorded: Split,
) -> Result<Option<(Split, String)>, ServingError> {
    let moe_tp = r.uint(&format!("{prefix}moe_tp_size"))?.unwrap_or(0);
    let ep = recorded.ep;
    if moe_tp <= 1 || ep <= 1 || moe_tp.saturating_mul(ep) != recorded.gpus {
        return Ok(None);
    }
    let split = Split {
        gpus: moe_tp,
        dp: if recorded.dp > 1 { moe_tp } else { 1 },
        ep,
    };
    Ok(Some((
        split,
        format!(
            "{prefix}tp_size x {prefix}attention_dp_size = {} = {prefix}moe_tp_size {moe_tp} x {prefix}moe_ep_size {ep}: \
             InferenceX's TP {moe_tp} with EP {ep} as converted; replayed on {moe_tp} GPUs, EP {ep}{}",
            recorded.gpus,
            if split.dp > 1 {
                format!(", DP-attention {moe_tp}")
            } else {
                String::new()
            }
        ),
    )))
}

/// One role's GPUs per instance and its DP-attention and expert-parallel ranks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Split {
    gpus: u32,
    dp: u32,
    ep: u32,
}

/// Engine settings of one role beyond its size.
#[derive(Clone, Copy, Debug, Default)]
struct Knobs {
    max_num_seqs: Option<u32>,
    chunked_prefill: bool,
    max_batched_tokens: Option<u32>,
    async_scheduling: Option<bool>,
    gpu_memory_utilization: Option<f64>,
    /// TensorRT-LLM `attention_dp_config` with `enable_balance` (timeout, batching wait
    /// iterations), written for a role with DP-attention.
    attention_dp_balance: Option<(u32, u32)>,
    /// SGLang `--stream-interval` / TensorRT-LLM `stream_interval`.
    stream_interval: Option<u32>,
    /// Decode tokens ride in every prefill step (SGLang `--enable-mixed-chunk`): the role
    /// runs `priority = "decode-first"` instead of SGLang's prefill-first default.
    mixed_chunk: bool,
    /// TensorRT-LLM batch waiting: (`batch_wait_timeout_iters`,
    /// `batch_wait_max_tokens_ratio`).
    batch_wait: Option<(u32, f64)>,
}

/// Write one role's scenario table.
fn role(toml: &mut String, name: &str, replicas: u32, split: Split, k: Knobs) {
    let _ = writeln!(
        toml,
        "\n[deployment.{name}]\nreplicas = {replicas}\ntp = {}",
        split.gpus
    );
    if split.dp > 1 {
        let _ = writeln!(toml, "dp = {}", split.dp);
    }
    if split.ep > 1 {
        let _ = writeln!(toml, "ep = {}", split.ep);
    }
    if let Some(n) = k.max_num_seqs {
        let _ = writeln!(toml, "engine.max-num-seqs = {n}");
    }
    if k.chunked_prefill {
        let _ = writeln!(toml, "engine.chunked-prefill = true");
    }
    if let Some(n) = k.max_batched_tokens {
        let _ = writeln!(toml, "engine.max-batched-tokens = {n}");
    }
    if let Some(on) = k.async_scheduling {
        let _ = writeln!(toml, "engine.async-scheduling = {on}");
    }
    if let Some(f) = k.gpu_memory_utilization {
        let _ = writeln!(toml, "engine.gpu-memory-utilization = {f}");
    }
    if let Some(n) = k.stream_interval {
        let _ = writeln!(toml, "engine.stream-interval = {n}");
    }
    if k.mixed_chunk {
        let _ = writeln!(toml, "engine.priority = \"decode-first\"");
    }
    if let Some((iters, ratio)) = k.batch_wait {
        let _ = writeln!(
            toml,
            "engine.batch-wait-timeout-iters = {iters}\nengine.batch-wait-max-tokens-ratio = {ratio}"
        );
    }
    if let (Some((timeout, wait)), true) = (k.attention_dp_balance, split.dp > 1) {
        let _ = writeln!(
            toml,
            "engine.attention-dp-balance = true\nengine.attention-dp-timeout-iters = {timeout}\n\
             engine.attention-dp-batching-wait-iters = {wait}"
        );
    }
}

/// What a published benchmark recipe sets beyond the CSV's columns, for the rows it
/// measured.
#[derive(Clone, Copy, Debug)]
struct Recipe {
    /// The recipe file (InferenceX `benchmarks/`), for the row's notes.
    source: &'static str,
    kv_cache_fp8: bool,
    max_batched_tokens: Option<u32>,
    async_scheduling: Option<bool>,
    /// `engine.gpu-memory-utilization` (SGLang `--mem-fraction-static`, TensorRT-LLM
    /// `kv_cache_config.free_gpu_memory_fraction`).
    gpu_memory_utilization: Option<f64>,
    /// Chunked prefill as the recipe sets it (None: the replay's rule).
    chunked_prefill: Option<bool>,
    /// TensorRT-LLM `attention_dp_config` with `enable_balance`: (`timeout_iters`,
    /// `batching_wait_iters`), for the runs with DP-attention.
    attention_dp_balance: Option<(u32, u32)>,
    /// SGLang `--stream-interval` / TensorRT-LLM `stream_interval` (tokens per streamed
    /// chunk after the first token).
    stream_interval: Option<u32>,
    /// The streamed chunk the runs' client timed the first token at (`ttft-chunk`).
    ttft_chunk: Option<u32>,
    /// TensorRT-LLM `batch_wait_timeout_iters` and `batch_wait_max_tokens_ratio`.
    batch_wait: Option<(u32, f64)>,
}

/// What identifies a row's recipe: engine, catalog model, weights, GPU, and the
/// aggregated deployment's concurrency, prompt length and split.
#[derive(Clone, Copy, Debug)]
struct RecipeKey<'a> {
    backend: &'a str,
    model: &'a str,
    weights: &'a str,
    gpu: &'a str,
    aggregated: bool,
    clients: u32,
    isl: u32,
    osl: u32,
    /// Tensor-parallel GPUs of the aggregated instance (`tp_size`; 1 when not recorded).
    tp: u32,
    /// Expert-parallel or DP-attention ranks recorded (> 1: the row ran expert or
    /// attention data parallelism).
    parallel_ranks: u32,
}

/// The InferenceX recipe of a row, where one is known (SemiAnalysis InferenceX
/// `benchmarks/`, the scripts as published):
///
/// - Llama-3.1-70B FP8: `70b_fp8_{h100,h200}_slurm.sh` (vLLM): `kv-cache-dtype: fp8`,
///   `async-scheduling: true`, `max-num-batched-tokens: 8192`, `--max-num-seqs $CONC`;
///   `70b_fp8_h200_trt_slurm.sh` (TensorRT-LLM): `kv_cache_config.dtype: fp8`,
///   `stream_interval: 10`, its token budget the model length (`--max_num_tokens $MAX_MODEL_LEN`), which the CSV does not
///   record; for 1k/1k below TP 8 it also holds prompts back for batching
///   (`batch_wait_timeout_iters: 20`, `batch_wait_max_tokens_ratio: 0.9`). Those rows
///   replay with that hold on a budget of 8192 tokens, TensorRT-LLM's default
///   `max_num_tokens` and the floor of the DeepSeek script's budget: with 2248, today's
///   1k/1k model length (isl + osl + 200), two prompts fit a release and the held prompts
///   queue at 64-128 clients (predicted TTFT 1.2-2.7 s against 0.5-1.3 s measured), while
///   8192 replays nine of the ten 1k/1k rows within -12%..+10% (the tenth, TP 8 at 4
///   clients, +27%); the configs of these runs (2025-10) are not published. Without the hold
///   their TTFT was 43-56% low: about 14-22 decode steps short.
/// - DeepSeek-R1 FP8 on H200, aggregated: `dsr1_fp8_h200_trt.sh` (TensorRT-LLM, with or
///   without EP and attention DP): `kv_cache_config.dtype: fp8`,
///   `free_gpu_memory_fraction: 0.75`, `--max_num_tokens` the larger of 8192 and
///   `CONC + ISL + 64` rounded up to 64 (every prompt fits a step whole: no chunking),
///   `stream_interval: 10`, and with DP-attention `attention_dp_config: {enable_balance:
///   true, timeout_iters: 60, batching_wait_iters: 0}`;
///   `dsr1_fp8_h200.sh` (SGLang, TP 8 without EP or DP-attention):
///   `--chunked-prefill-size 32768`, `--mem-fraction-static 0.82`, `--stream-interval 10`,
///   the KV cache in the model's dtype. Both engines send the first token at once, yet
///   these runs measure it one chunk later (the prefill plus about ten decode steps, at
///   every concurrency, on both engines; not so the Llama-3.1-70B and gpt-oss runs of the
///   same harness): their client times it at the second chunk (`ttft-chunk = 2`;
///   docs/silicon-replay.md).
/// - gpt-oss-120b, aggregated: `gptoss_fp4_{h100,h200}.sh` (vLLM): `async-scheduling:
///   true`, `max-num-batched-tokens: 8192`, `--max-num-seqs $CONC`, the KV cache in the
///   model's dtype; `gptoss_fp4_h200_trt.sh` (TensorRT-LLM): `--max_num_tokens 20000`,
///   `free_gpu_memory_fraction: 0.85`, `--max_batch_size $CONC`, `stream_interval: 20`,
///   chunked prefill off.
fn inferencex_recipe(k: RecipeKey<'_>) -> Option<Recipe> {
    let none = Recipe {
        source: "",
        kv_cache_fp8: false,
        max_batched_tokens: None,
        async_scheduling: None,
        gpu_memory_utilization: None,
        chunked_prefill: None,
        attention_dp_balance: None,
        stream_interval: None,
        ttft_chunk: None,
        batch_wait: None,
    };
    let deepseek = matches!(k.model, "deepseek-v3" | "deepseek-r1");
    // gpt-oss runs its checkpoint's MXFP4 experts whatever the row calls its weights.
    if k.weights != "fp8" && k.model != "gpt-oss-120b" {
        return None;
    }
    match (k.backend, k.model) {
        ("vllm", "gpt-oss-120b") if k.aggregated => Some(Recipe {
            source: "InferenceX benchmarks/gptoss_fp4_<gpu>.sh",
            max_batched_tokens: Some(8192),
            async_scheduling: Some(true),
            ..none
        }),
        ("trtllm", "gpt-oss-120b") if k.gpu == "h200" && k.aggregated => Some(Recipe {
            source: "InferenceX benchmarks/gptoss_fp4_h200_trt.sh",
            max_batched_tokens: Some(20000),
            gpu_memory_utilization: Some(0.85),
            chunked_prefill: Some(false),
            stream_interval: Some(20),
            ..none
        }),
        ("vllm", "llama-3.1-70b") => Some(Recipe {
            source: "InferenceX benchmarks/70b_fp8_<gpu>_slurm.sh",
            kv_cache_fp8: true,
            max_batched_tokens: Some(8192),
            async_scheduling: Some(true),
            ..none
        }),
        // 1k/1k below TP 8: the script's batch waiting (see the doc comment), whose
        // release ratio is of a token budget of 8192, prompts unchunked.
        ("trtllm", "llama-3.1-70b") if k.isl == 1024 && k.osl == 1024 => Some(Recipe {
            source: "InferenceX benchmarks/70b_fp8_h200_trt_slurm.sh",
            kv_cache_fp8: true,
            max_batched_tokens: Some(8192),
            chunked_prefill: Some(false),
            batch_wait: (k.tp < 8).then_some((20, 0.9)),
            stream_interval: Some(10),
            ..none
        }),
        ("trtllm", "llama-3.1-70b") => Some(Recipe {
            source: "InferenceX benchmarks/70b_fp8_h200_trt_slurm.sh",
            kv_cache_fp8: true,
            stream_interval: Some(10),
            ..none
        }),
        ("trtllm", _) if deepseek && k.gpu == "h200" && k.aggregated => Some(Recipe {
            source: "InferenceX benchmarks/dsr1_fp8_h200_trt.sh",
            kv_cache_fp8: true,
            max_batched_tokens: Some(
                (k.clients.saturating_add(k.isl).saturating_add(64))
                    .div_ceil(64)
                    .saturating_mul(64)
                    .clamp(8192, crate::limits::MAX_TOKENS),
            ),
            gpu_memory_utilization: Some(0.75),
            chunked_prefill: Some(false),
            attention_dp_balance: Some((60, 0)),
            stream_interval: Some(10),
            ttft_chunk: Some(2),
            ..none
        }),
        ("sglang", _) if deepseek && k.gpu == "h200" && k.aggregated && k.parallel_ranks <= 1 => {
            Some(Recipe {
                source: "InferenceX benchmarks/dsr1_fp8_h200.sh",
                max_batched_tokens: Some(32768),
                gpu_memory_utilization: Some(0.82),
                stream_interval: Some(10),
                ttft_chunk: Some(2),
                ..none
            })
        }
        _ => None,
    }
}

/// Whether a row's FP8 weights are NVIDIA ModelOpt's per-tensor FP8 (`gemm_quant_mode`
/// `fp8`) of a checkpoint that is not quantized itself: a BF16 repository (the sweep
/// quantized it) or an `nvidia/...-FP8` one. ModelOpt's FP8 recipe quantizes the KV cache
/// too (`hf_ptq.py --kv_cache_qformat fp8`, its default), and TensorRT-LLM's
/// `kv_cache_config.dtype = "auto"` takes the checkpoint's KV format, so TensorRT-LLM runs
/// them with an FP8 KV cache. Checked on AIConfigurator's TensorRT-LLM 1.0.0rc3 Qwen3-32B
/// sweep (model `Qwen/Qwen3-32B`, FP8 GEMMs): at 128 clients on one or two H100s a BF16
/// cache holds about half the batch their measured TPOT implies (predicted TTFT 5.8-13.1 s
/// against 1.6-2.5 s measured, TPOT 119 ms against 184 ms), an FP8 one all of it (1.4-1.7
/// s, 178 ms). Checkpoints quantized by their authors (`fp8_block` GEMMs, DeepSeek-V3/R1,
/// gpt-oss, `Qwen/...-FP8`) carry no KV scales and keep the model's dtype. The rule adds
/// to a recipe's FP8 KV cache; a recipe that leaves the model's dtype does not stop it
/// (none of those is a TensorRT-LLM recipe for a ModelOpt checkpoint).
fn modelopt_fp8(model_path: &str, gemm_quant_mode: &str) -> bool {
    let path = model_path.to_ascii_lowercase();
    // DeepSeek-V3/R1 ship FP8 weights; their distills (`...-Distill-...`) are BF16.
    let deepseek_fp8 = path.starts_with("deepseek-ai/") && !path.contains("distill");
    let own_quantization = deepseek_fp8
        || path.starts_with("openai/gpt-oss")
        || (path.contains("fp8") && !path.starts_with("nvidia/"));
    gemm_quant_mode == "fp8" && !own_quantization
}

fn row(r: &Rec<'_>) -> Result<MeasuredRun, ServingError> {
    let id = r.req_text("id")?.to_owned();
    let backend = r.req_text("backend")?.to_owned();
    let version = r.text("backend_version").to_owned();
    let model_path = r.req_text("model_path")?.to_owned();
    let system = r.req_text("system")?;
    let mode = match r.req_text("mode")? {
        "agg" => "aggregated",
        "disagg" => "disaggregated",
        m => return Err(r.err("mode", format!("{m:?} is neither agg nor disagg"))),
    };
    let isl = r.req_uint("isl")?;
    let osl = r.req_uint("osl")?;
    let ttft = r.req_ms("silicon_ttft_ms")?;
    let tpot = r.req_ms("silicon_tpot_ms")?;
    // `batch_size` is per attention-DP rank (TensorRT-LLM's `max_batch_size` with
    // `enable_attention_dp`; the InferenceX PD rows' concurrency is workers x DP x batch):
    // the instance's is DP times it.
    let instance_batch = |prefix: &str| -> Result<Option<u32>, ServingError> {
        let dp = r
            .uint(&format!("{prefix}attention_dp_size"))?
            .unwrap_or(1)
            .max(1);
        Ok(r.uint(&format!("{prefix}batch_size"))?
            .map(|b| b.saturating_mul(dp)))
    };
    let clients = match concurrency(r.text("silicon_data_source")) {
        Some(c) => Some(c),
        None if mode == "aggregated" => instance_batch("")?,
        None => None,
    };
    let mut notes = Vec::new();
    let mut skip = None;
    let gpu = match system {
        "h100_sxm" => "h100",
        "h200_sxm" => "h200",
        other => {
            skip.get_or_insert(format!(
                "system {other}: no calibration profile (h100_sxm and h200_sxm only)"
            ));
            other
        }
    };
    let model = match catalog_model(&model_path) {
        Some((m, note)) => {
            notes.extend(note);
            m
        }
        None => {
            skip.get_or_insert(format!("model {model_path} is not in xpyd's catalog"));
            String::new()
        }
    };
    // A checkpoint whose experts are MXFP4 (gpt-oss) runs them as such whatever the row
    // calls its FP4 (InferenceX labels gpt-oss `nvfp4`); its other weights are bf16.
    let mxfp4_experts = ModelArch::builtin(&model).is_ok_and(|a| {
        a.moe
            .is_some_and(|m| m.expert_weights == xpyd_models::ExpertWeights::Mxfp4)
    });
    let fp4 = |q: &str| matches!(q, "nvfp4" | "mxfp4" | "fp4");
    let weights = match (r.text("gemm_quant_mode"), r.text("moe_quant_mode")) {
        ("fp8" | "fp8_block", "" | "fp8" | "fp8_block") => "fp8",
        ("" | "bfloat16" | "bf16" | "float16", "" | "bfloat16" | "bf16" | "float16") => "bf16",
        (g, m) if mxfp4_experts && fp4(m) && (fp4(g) || g.is_empty()) => {
            notes.push(format!(
                "gemm_quant_mode {g:?} / moe_quant_mode {m:?}: the checkpoint's MXFP4 experts, bf16 elsewhere"
            ));
            "bf16"
        }
        (g, m) => {
            skip.get_or_insert(format!(
                "gemm_quant_mode {g:?} / moe_quant_mode {m:?}: only bf16 and fp8 weights are modelled"
            ));
            "bf16"
        }
    };
    let engine = match (backend.as_str(), mode) {
        ("vllm", _) => "vllm",
        ("sglang", _) => "sglang",
        ("trtllm", _) => "trtllm",
        (b, _) => {
            skip.get_or_insert(format!("backend {b:?} is not modelled"));
            "vllm"
        }
    };
    if clients.is_none() {
        skip.get_or_insert("no silicon_concurrency in silicon_data_source".to_owned());
    }
    let campaign = Campaign::of(r.text("silicon_data_source"));
    notes.push(campaign.name().to_owned());
    // Aggregated TensorRT-LLM rows of AIConfigurator's sweeps run as its benchmark rule
    // deploys them: chunked prefill off, a token budget of batch + isl + 1500 (every
    // prompt fits whole beside the decodes). Other TensorRT-LLM rows record no budget: they run with
    // chunked prefill (context chunking), which TensorRT-LLM leaves off by default, because
    // without it a prompt longer than the free token budget waits until no decode runs,
    // which predicts TTFTs hundreds of times the measured ones (one Qwen3-32B TP 8 row,
    // 4096 x 512 at 128 clients: 410 s against 932 ms measured; 948 ms with chunking).
    let aic_trtllm = backend == "trtllm" && campaign == Campaign::Aic && mode == "aggregated";
    // The recipes are the H100/H200 ones; a row skipped for another reason takes none.
    let recipe = match (campaign, &skip) {
        (Campaign::InferenceX, None) => inferencex_recipe(RecipeKey {
            backend: &backend,
            model: &model,
            weights,
            gpu,
            aggregated: mode == "aggregated",
            clients: clients.unwrap_or(0),
            isl,
            osl,
            tp: r.uint("tp_size")?.unwrap_or(1),
            parallel_ranks: r
                .uint("moe_ep_size")?
                .unwrap_or(1)
                .max(r.uint("attention_dp_size")?.unwrap_or(1)),
        }),
        _ => None,
    };
    if let Some(r) = &recipe {
        notes.push(format!("deployment settings of {}", r.source));
    }
    let kv_cache = if recipe.is_some_and(|r| r.kv_cache_fp8)
        || (engine == "trtllm" && modelopt_fp8(&model_path, r.text("gemm_quant_mode")))
    {
        "fp8"
    } else {
        "bf16"
    };
    let chunked = recipe
        .and_then(|r| r.chunked_prefill)
        .unwrap_or(backend == "trtllm" && !aic_trtllm);
    // A scenario name starts with a letter (it names Kubernetes objects); ids such as
    // `2026_03_25_...` get a prefix.
    let name = if id.starts_with(|c: char| c.is_ascii_alphabetic()) {
        id.to_string()
    } else {
        format!("run-{id}")
    };
    let mut toml = format!(
        "name = {name:?}\nseed = 1\n\n[model]\nid = {model:?}\nweights = {weights:?}\nkv-cache = {kv_cache:?}\n\n\
         [hardware]\ngpu = {gpu:?}\ngpus-per-node = 8\n\n[deployment]\nmode = {mode:?}\nbackend = {engine:?}\n\
         engine-profile = \"auto\"\n"
    );
    if !version.is_empty() {
        let _ = writeln!(toml, "engine-version = {version:?}");
    }
    let mut split = |prefix: &str| -> Result<Split, ServingError> {
        let recorded = parallelism(r, prefix)?.unwrap_or_else(|why| {
            skip.get_or_insert(why);
            Split {
                gpus: 1,
                dp: 1,
                ep: 1,
            }
        });
        if campaign == Campaign::InferenceX
            && let Some((split, note)) = inferencex_split(r, prefix, recorded)?
        {
            notes.push(note);
            return Ok(split);
        }
        Ok(recorded)
    };
    if mode == "aggregated" {
        let tp = split("")?;
        let mut batch = instance_batch("")?;
        // A recorded batch below the concurrency is not a cap on the requests in flight:
        // every such aggregated row of the CSV (15, all AIConfigurator TensorRT-LLM
        // 1.3.0rc1/rc5 sweeps; 3 on H100, the rest B200/GB200) measured a TTFT of
        // 0.35-2.3 s where a cap at the batch would have queued each request behind
        // (clients / batch - 1) whole generations, 20-600 s.
        if let (Some(b), Some(c)) = (batch, clients)
            && c > b
        {
            batch = Some(c);
            notes.push(format!(
                "batch_size x DP = {b} < silicon_concurrency {c}: not the engine's batch cap (see docs/silicon-replay.md); every client in flight"
            ));
        }
        if let Some(cap) = client_connection_cap(campaign, &backend, r.text("silicon_data_source"))
            && clients.is_some_and(|c| c > cap)
        {
            let capped = batch.map_or(cap, |b| b.min(cap));
            if batch != Some(capped) {
                batch = Some(capped);
                notes.push(format!(
                    "at most {cap} requests in flight: the benchmark client's connection limit (see docs/silicon-replay.md)"
                ));
            }
        }
        // AIConfigurator's vLLM benchmark rule (`rule_plugin/benchmark/vllm.rule`) sets the
        // same budget, `max_num_tokens`, passed as `--max-num-batched-tokens`
        // (`config/backend_config_mapping.yaml`); vLLM chunks prompts beyond it.
        let aic_vllm = backend == "vllm" && campaign == Campaign::Aic;
        // AIConfigurator's SGLang benchmark rule (`rule_plugin/benchmark/sglang.rule`, the
        // AIPerf harness's generator) deploys aggregated workers with `enable_mixed_chunk`:
        // every prefill step carries the running decodes, within the chunk size
        // (`--chunked-prefill-size`, [`crate::scenario::sglang_chunk_tokens`]) less the
        // running decodes, as SGLang's `PrefillAdder` counts them. Prefill-first without
        // mixing stalls every decode behind each wave of prompts, which keeps the closed
        // loop's clients in lockstep (one 8000 x 2000 Llama-3.1-8B row at 80 clients, with
        // the refitted profile: TTFT 7.6 s predicted against 1.3 s measured; 1.0 s mixed).
        // The rule's `max_prefill_tokens = isl + 1500` does not bind in these runs: at 448
        // clients a 1000 x 100 row completes 104 prompts/s in 29 steps/s (TPOT 34.1 ms),
        // 3.6 prompts a step where 2,500 - 448 tokens would admit 2 (replayed with it: TTFT
        // 2.38 s against 0.92 s measured; 0.46 s within the chunk).
        let sglang_mixed = backend == "sglang" && client::aiperf_harness(campaign, isl, osl);
        let budget = match (aic_trtllm || aic_vllm, batch.or(clients)) {
            // At most the token limit: a longer budget than any prompt gains nothing.
            (true, Some(b)) => Some(
                b.saturating_add(isl)
                    .saturating_add(1500)
                    .min(crate::limits::MAX_TOKENS),
            ),
            // A system outside the catalog has no GPU here; its row is skipped (above).
            _ if sglang_mixed => GpuSpec::builtin(gpu)
                .ok()
                .map(|g| crate::scenario::sglang_chunk_tokens(&g)),
            _ => recipe.and_then(|r| r.max_batched_tokens),
        };
        role(
            &mut toml,
            "aggregated",
            1,
            tp,
            Knobs {
                max_num_seqs: batch,
                chunked_prefill: chunked,
                max_batched_tokens: budget,
                async_scheduling: recipe.and_then(|r| r.async_scheduling),
                gpu_memory_utilization: recipe.and_then(|r| r.gpu_memory_utilization),
                attention_dp_balance: recipe.and_then(|r| r.attention_dp_balance),
                stream_interval: recipe.and_then(|r| r.stream_interval),
                mixed_chunk: sglang_mixed,
                batch_wait: recipe.and_then(|r| r.batch_wait),
            },
        );
    } else {
        let (prefill, decode) = (split("prefill_")?, split("decode_")?);
        let recorded = |p: &str| -> Result<Option<u32>, ServingError> {
            Ok(r.uint(&format!("{p}_num_workers"))?.filter(|n| *n >= 1))
        };
        let (prefill, decode, prefill_workers, decode_workers) =
            match (recorded("prefill")?, recorded("decode")?) {
                (Some(p), Some(d)) => (prefill, decode, p, d),
                (p, _) => {
                    // A PD row without its worker counts does not say how large the
                    // deployment was; InferenceX publishes it for its Dynamo runs
                    // (`inferencex_pd`). Other rows cannot be replayed.
                    let query = Query {
                        backend: &backend,
                        gpu,
                        model_path: &model_path,
                        weights,
                        image: inferencex_pd::image(r.text("silicon_data_source")).unwrap_or(""),
                        isl,
                        osl,
                        clients: clients.unwrap_or(0),
                        prefill,
                        decode,
                    };
                    let found = match (campaign, &skip) {
                        (Campaign::InferenceX, None) => inferencex_pd::lookup(&query),
                        _ => Found::Nothing,
                    };
                    match found {
                        Found::Deployment {
                            prefill,
                            decode,
                            note,
                        } => {
                            notes.push(note);
                            (
                                prefill.split(),
                                decode.split(),
                                prefill.workers,
                                decode.workers,
                            )
                        }
                        Found::Skip(why) => {
                            skip.get_or_insert(why);
                            (prefill, decode, 1, 1)
                        }
                        Found::Nothing => {
                            let col = match p {
                                None => "prefill_num_workers",
                                Some(_) => "decode_num_workers",
                            };
                            let why = "is not recorded: the deployment's size is unknown";
                            skip.get_or_insert(format!("{col} {why}"));
                            (prefill, decode, 1, 1)
                        }
                    }
                }
            };
        role(
            &mut toml,
            "prefill",
            prefill_workers,
            prefill,
            Knobs {
                max_num_seqs: instance_batch("prefill_")?,
                chunked_prefill: chunked,
                ..Knobs::default()
            },
        );
        role(
            &mut toml,
            "decode",
            decode_workers,
            decode,
            Knobs {
                max_num_seqs: instance_batch("decode_")?,
                chunked_prefill: chunked,
                ..Knobs::default()
            },
        );
    }
    let ttft_chunk = recipe.and_then(|r| r.ttft_chunk);
    if let Some(n) = ttft_chunk {
        notes.push(format!(
            "first token timed at streamed chunk {n}, as this recipe's runs measure it (docs/silicon-replay.md)"
        ));
    }
    let requests = workload(
        &mut toml, &mut notes, campaign, engine, isl, osl, clients, ttft_chunk,
    );
    Ok(MeasuredRun {
        id,
        file: r.file.to_path_buf(),
        format: Format::SiliconCsv,
        backend,
        backend_version: version,
        gpu: gpu.to_owned(),
        mode: mode.to_owned(),
        model: if model.is_empty() { model_path } else { model },
        load: Load {
            clients,
            rate_rps: None,
            requests: Some(requests),
            input_tokens: Some(isl),
            output_tokens: Some(osl),
        },
        ttft_ms: Stat {
            mean: Some(ttft),
            ..Stat::default()
        },
        tpot_ms: Stat {
            mean: Some(tpot),
            ..Stat::default()
        },
        throughput_rps: None,
        scenario_toml: Some(toml),
        skip,
        notes,
    })
}

/// The 1-based line of the record starting at byte `at` (the csv crate's record position
/// may sit on the previous record's line terminator).
fn line_at(text: &str, at: u64) -> u64 {
    let bytes = text.as_bytes();
    let mut i = usize::try_from(at).unwrap_or(bytes.len()).min(bytes.len());
    while i < bytes.len() && (bytes[i] == b'\n' || bytes[i] == b'\r') {
        i += 1;
    }
    1 + bytes[..i].iter().filter(|b| **b == b'\n').count() as u64
}

pub(super) fn read(path: &Path, text: &str) -> Result<Vec<MeasuredRun>, ServingError> {
    let csv_err = |e: csv::Error| {
        let line = e.position().map_or(0, csv::Position::line);
        ServingError::Field {
            file: path.to_path_buf(),
            field: format!("line {line}"),
            message: e.to_string(),
        }
    };
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader.headers().map_err(csv_err)?.clone();
    let mut runs = Vec::new();
    for rec in reader.records() {
        let rec = rec.map_err(csv_err)?;
        let line = rec.position().map_or(0, |p| line_at(text, p.byte()));
        let cols = headers.iter().zip(rec.iter()).collect();
        runs.push(row(&Rec {
            file: path,
            line,
            cols,
        })?);
    }
    Ok(runs)
}

#[cfg(test)]
mod tests;
