//! NVIDIA AIConfigurator's silicon-sample CSV (`../shared/reference/engine-benchmarks`):
//! one measured configuration per row, deployment included. Columns are upstream's
//! (`id`, `backend`, `model_path`, `system`, `mode`, `isl`, `osl`, `batch_size`,
//! `tp_size`, ..., `prefill_*`, `decode_*`, `silicon_data_source`, `silicon_ttft_ms`,
//! `silicon_tpot_ms`; see that folder's README).
//!
//! Each row becomes a closed-loop run as its campaign's client ran it ([`Campaign`], read
//! from `silicon_data_source`): clients = `silicon_concurrency` (else `batch_size` for
//! agg), 10 requests per client (at least 30; 50 for AIConfigurator's AIPerf harness, whose
//! 100 prompts repeat, [`aiperf_harness`]), every client starting at once (no
//! warm-up, see [`WARMUP_PER_CLIENT`]), `isl`/`osl` fixed (AIConfigurator's sweeps) or
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
use xpyd_models::ModelArch;

mod inferencex_pd;

use inferencex_pd::{Found, Query};

/// Requests measured per client: both campaigns of the CSV (see [`Campaign`]) measure
/// 10 x concurrency requests.
const REQUESTS_PER_CLIENT: u64 = 10;

/// Requests measured per client by AIConfigurator's AIPerf harness
/// (`generator/config/backend_templates/benchmark/bench_run.sh.j2`:
/// `--num-requests $((concurrency * BENCH_MULTI_ROUND))`, `BENCH_MULTI_ROUND` 50 unless set).
const AIPERF_REQUESTS_PER_CLIENT: u64 = 50;

/// Distinct prompts of that harness's synthetic dataset: it passes no
/// `--num-dataset-entries`, so AIPerf's default of 100 applies (`InputDefaults.
/// NUM_DATASET_ENTRIES`), sampled by its default strategy, `shuffle` (every entry once per
/// pass). Repeated prompts are prefix-cache hits on engines that cache prefixes.
const AIPERF_DATASET_ENTRIES: u32 = 100;

/// Tokens per prefix-cache block of a replayed prompt: vLLM's default KV block (16);
/// SGLang's radix cache matches single tokens, which 16-token blocks approximate within 15
/// tokens a prompt.
const PROMPT_BLOCK_TOKENS: u32 = 16;

/// Whether an AIConfigurator sweep row was measured by its AIPerf harness rather than
/// `genai_perf_runner.py`. The CSV does not name the harness; the two are told apart by
/// their length grids, which no row of the CSV mixes: the genai-perf runner's prompts and
/// outputs are powers of two (128 to 4096), the AIPerf campaign's are round thousands and
/// hundreds (1000 to 8000 x 100 to 2000, at concurrencies of 0.95, 1 and 1.05 times the
/// deployment's batch, as `bench_run.sh` adds them). Its runs are also what a fresh prompt
/// per request could not give on vLLM: three vLLM 0.12.0 Llama-3.1-8B FP8 rows on one or
/// two H200s (1000-4000 x 100 at 48-112 clients) complete prompts, by Little's law, at a
/// rate that needs 1.33-1.37 PFLOP/s of prefill per GPU (linear layers and causal
/// attention), above the H200's 0.99 PFLOP/s FP8 peak (docs/silicon-replay.md).
fn aiperf_harness(campaign: Campaign, isl: u32, osl: u32) -> bool {
    campaign == Campaign::Aic && isl.is_multiple_of(100) && osl.is_multiple_of(100)
}

/// Warm-up requests per client simulated before the measured ones: none. Both clients
/// run their 2 x concurrency warm-up requests as a phase of their own that ends before
/// the measured phase starts, and that phase again starts all clients at once (InferenceX's
/// `benchmark_serving.py` launches every request under a semaphore of `max_concurrency`),
/// so the measured means include a common start; simulated warm-up requests would instead
/// let the measured ones continue a steady state. Checked on this CSV's H100/H200 dense
/// rows with the shipped engine layer (`xpyd validate --serving`, 2026-12-06): a 2 x
/// clients warm-up moved the predicted TTFT of every vLLM and TensorRT-LLM group 34-62%
/// below the measured one (vLLM H100 InferenceX rows: median signed error +2% without,
/// -49% with; SGLang's fixed-length rows, in lockstep, did not move).
const WARMUP_PER_CLIENT: u64 = 0;

/// Who measured a row, read from `silicon_data_source`: the benchmark client and the
/// engine settings follow from it. Sources (public; see the commit that added this):
/// AIConfigurator's `eval/benchmarks/genai_perf_runner.py` (`--request-count c * 10`,
/// `--warmup-request-count c * 2`, fixed lengths with `ignore_eos`) and its benchmark
/// rules `rule_plugin/benchmark/trtllm.rule` (aggregated TensorRT-LLM: `max_batch_size`
/// = the row's batch, `max_num_tokens = max_batch_size + isl + 1500`, chunked prefill
/// left off); SemiAnalysis InferenceX's `benchmarks/benchmark_lib.sh`
/// (`benchmark_serving.py --random-range-ratio 0.8 --num-warmups 2 * concurrency
/// --ignore-eos`, `--num-prompts concurrency * 10`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Campaign {
    /// AIConfigurator's own sweeps: `source_file=<system>/<backend>/<version>/<model>.csv`.
    Aic,
    /// InferenceX runs: `db-dump/...` or `source_file=<date>.csv; model=...`; every
    /// prompt and output length drawn uniformly from `[0.8 x L, L]` (random range ratio 0.8).
    InferenceX,
    /// Anything else (internal jobs, hand-made rows): fixed lengths.
    Unknown,
}

impl Campaign {
    fn of(source: &str) -> Campaign {
        let field = |k: &str| {
            source
                .split(';')
                .find_map(|p| p.trim().strip_prefix(k).map(str::trim))
        };
        if source.trim_start().starts_with("db-dump/") {
            return Campaign::InferenceX;
        }
        match field("source_file=") {
            Some(_) if field("gtl_job_id=").is_some() => Campaign::Unknown,
            Some(_) if field("model=").is_some() => Campaign::InferenceX,
            Some(f) if f.split('/').count() == 4 => Campaign::Aic,
            _ => Campaign::Unknown,
        }
    }

    /// A length's workload table: fixed, or uniform in `[0.8 x L, L]` (InferenceX's
    /// sampler draws `randint(int(L * 0.8), L + 1)`).
    fn length(self, tokens: u32) -> String {
        match self {
            Campaign::InferenceX => format!(
                "kind = \"uniform\"\nmin = {}\nmax = {tokens}",
                (u64::from(tokens) * 4 / 5).max(1)
            ),
            Campaign::Aic | Campaign::Unknown => format!("kind = \"fixed\"\ntokens = {tokens}"),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Campaign::Aic => "campaign: AIConfigurator sweep (fixed lengths)",
            Campaign::InferenceX => "campaign: InferenceX (lengths uniform in [0.8 x L, L])",
            Campaign::Unknown => "campaign: unknown (fixed lengths)",
        }
    }
}

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
    /// SGLang `--stream-interval`.
    stream_interval: Option<u32>,
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
    /// SGLang `--stream-interval` (tokens per streamed chunk, the first included).
    stream_interval: Option<u32>,
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
    /// Expert-parallel or DP-attention ranks recorded (> 1: the row ran expert or
    /// attention data parallelism).
    parallel_ranks: u32,
}

/// The InferenceX recipe of a row, where one is known (SemiAnalysis InferenceX
/// `benchmarks/`, the scripts as published):
///
/// - Llama-3.1-70B FP8: `70b_fp8_{h100,h200}_slurm.sh` (vLLM): `kv-cache-dtype: fp8`,
///   `async-scheduling: true`, `max-num-batched-tokens: 8192`, `--max-num-seqs $CONC`;
///   `70b_fp8_h200_trt_slurm.sh` (TensorRT-LLM): `kv_cache_config.dtype: fp8`, its token
///   budget the model length, which the CSV does not record.
/// - DeepSeek-R1 FP8 on H200, aggregated: `dsr1_fp8_h200_trt.sh` (TensorRT-LLM, with or
///   without EP and attention DP): `kv_cache_config.dtype: fp8`,
///   `free_gpu_memory_fraction: 0.75`, `--max_num_tokens` the larger of 8192 and
///   `CONC + ISL + 64` rounded up to 64 (every prompt fits a step whole: no chunking),
///   and with DP-attention `attention_dp_config: {enable_balance: true, timeout_iters:
///   60, batching_wait_iters: 0}`;
///   `dsr1_fp8_h200.sh` (SGLang, TP 8 without EP or DP-attention):
///   `--chunked-prefill-size 32768`, `--mem-fraction-static 0.82`, `--stream-interval 10`
///   (the first token reaches the client with the tenth), the KV cache in the model's
///   dtype.
/// - gpt-oss-120b, aggregated: `gptoss_fp4_{h100,h200}.sh` (vLLM): `async-scheduling:
///   true`, `max-num-batched-tokens: 8192`, `--max-num-seqs $CONC`, the KV cache in the
///   model's dtype; `gptoss_fp4_h200_trt.sh` (TensorRT-LLM): `--max_num_tokens 20000`,
///   `free_gpu_memory_fraction: 0.85`, `--max_batch_size $CONC`, chunked prefill off.
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
            ..none
        }),
        ("vllm", "llama-3.1-70b") => Some(Recipe {
            source: "InferenceX benchmarks/70b_fp8_<gpu>_slurm.sh",
            kv_cache_fp8: true,
            max_batched_tokens: Some(8192),
            async_scheduling: Some(true),
            ..none
        }),
        ("trtllm", "llama-3.1-70b") => Some(Recipe {
            source: "InferenceX benchmarks/70b_fp8_h200_trt_slurm.sh",
            kv_cache_fp8: true,
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
            ..none
        }),
        ("sglang", _) if deepseek && k.gpu == "h200" && k.aggregated && k.parallel_ranks <= 1 => {
            Some(Recipe {
                source: "InferenceX benchmarks/dsr1_fp8_h200.sh",
                max_batched_tokens: Some(32768),
                gpu_memory_utilization: Some(0.82),
                stream_interval: Some(10),
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

/// The most requests a row's benchmark client kept in flight, where it held fewer than its
/// concurrency: InferenceX's vLLM runs measured in 2025 behave as if their client held
/// at most 100 connections, aiohttp's default limit (a shared `ClientSession` without a
/// connector of its own; the client's revision is not recorded), so that at 512 clients
/// the server saw 100 and the other 412 waited for a connection, their wait counted in
/// TTFT. All six such rows (gpt-oss-120b on H100, vLLM 0.11.2 and
/// unrecorded, 512 clients, measured 2025-12-05 and -08) say so: by Little's law
/// (requests/s times one request's decode time) 96-106 requests were in flight, and
/// their TTFT is `(512 - 100) / 100` times one request's decode time within -5%..+8%.
/// InferenceX's 2026 vLLM rows above 100 clients (vLLM 0.15-0.19 on H200, B200, B300,
/// GB200, 128-2,048 clients) had about as many in flight as clients (e.g. 500-502 of
/// 512), and its TensorRT-LLM rows of 2025 show no cap either (H200 at 128-256 clients
/// replay within -6% median TTFT uncapped); no 2025 vLLM row outside December is above
/// 100 clients, so the rule's year is the evidence's bound. For aggregated rows only
/// (the caller): the server side of the replay holds the others in its queue, which for
/// one aggregated instance is the same wait.
fn client_connection_cap(campaign: Campaign, backend: &str, source: &str) -> Option<u32> {
    const AIOHTTP_DEFAULT_LIMIT: u32 = 100;
    let measured_2025 = source.split(';').any(|p| {
        p.trim()
            .strip_prefix("measured=")
            .is_some_and(|d| d.starts_with("2025-"))
    });
    (campaign == Campaign::InferenceX && backend == "vllm" && measured_2025)
        .then_some(AIOHTTP_DEFAULT_LIMIT)
}

/// `silicon_concurrency=N` in `silicon_data_source`.
fn concurrency(source: &str) -> Option<u32> {
    source.split(';').find_map(|part| {
        part.trim()
            .strip_prefix("silicon_concurrency=")
            .and_then(|n| n.trim().parse().ok())
    })
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
        let budget = match (aic_trtllm || aic_vllm, batch.or(clients)) {
            // At most the token limit: a longer budget than any prompt gains nothing.
            (true, Some(b)) => Some(
                b.saturating_add(isl)
                    .saturating_add(1500)
                    .min(crate::limits::MAX_TOKENS),
            ),
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
    let c = clients.unwrap_or(1).max(1);
    let aiperf = aiperf_harness(campaign, isl, osl);
    let per_client = if aiperf {
        AIPERF_REQUESTS_PER_CLIENT
    } else {
        REQUESTS_PER_CLIENT
    };
    let requests = (per_client * u64::from(c)).max(30);
    let warmup = WARMUP_PER_CLIENT * u64::from(c);
    // AIPerf's 100 prompts come back on every pass. The vLLM runs show the repeats served
    // from vLLM's prefix cache (its default; see `aiperf_harness`). The others show no
    // reuse: TensorRT-LLM as AIConfigurator deploys it reuses no blocks
    // (`kv_cache_config.enable_block_reuse` defaults to false in its engine templates), and
    // SGLang's runs (FP8 weights) stay within the H200's FP8 peak with fresh prompts and
    // replay 74-99% below their measured TTFT with cached ones, whatever the engine layer
    // (docs/silicon-replay.md): their prompts stay fresh.
    let pool = aiperf && isl >= 2 && engine == "vllm";
    if aiperf {
        notes.push(format!(
            "AIPerf harness: {per_client} x clients requests{}",
            if pool {
                format!(
                    ", prompts from its {AIPERF_DATASET_ENTRIES}-entry dataset in shuffled passes, repeats served from the prefix cache ({PROMPT_BLOCK_TOKENS}-token blocks)"
                )
            } else {
                ", every prompt computed (no prefix reuse in this deployment)".to_owned()
            }
        ));
    }
    let input = if pool {
        format!(
            "{}\n\n[workload.prefix]\nkind = \"shared-prompt\"\nprompts = {AIPERF_DATASET_ENTRIES}\ntokens = {}\n\
             block-tokens = {PROMPT_BLOCK_TOKENS}\norder = \"shuffle\"",
            campaign.length(1),
            isl - 1
        )
    } else {
        campaign.length(isl)
    };
    let _ = write!(
        toml,
        "\n[workload]\nrequests = {requests}\nwarmup-requests = {warmup}\n\n[workload.arrival]\nkind = \"closed-loop\"\nclients = {c}\n\n\
         [workload.output-tokens]\n{}\n\n[workload.input-tokens]\n{input}\n",
        campaign.length(osl)
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
