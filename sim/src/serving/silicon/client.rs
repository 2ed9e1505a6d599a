//! Who measured a silicon-CSV row and how its benchmark client ran it: the campaign
//! ([`Campaign`]), its requests per client, warm-up and lengths, AIConfigurator's AIPerf
//! harness and its shared prompts ([`aiperf_harness`]), and client-side limits on the
//! requests in flight ([`client_connection_cap`]). The row's deployment is `silicon.rs`'s.

use std::fmt::Write as _;

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
/// rate that needs 1.36-1.42 PFLOP/s of prefill per GPU (linear layers and causal
/// attention; 69-72% of the H200's 1.98 PFLOP/s FP8 dense peak) beside their decodes, more
/// than the calibrated FP8 GEMMs alone reach at those sizes (1.27 PFLOP/s in a
/// 2,000-token step; docs/silicon-replay.md).
pub(super) fn aiperf_harness(campaign: Campaign, isl: u32, osl: u32) -> bool {
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
/// -49% with; SGLang's fixed-length rows, in lockstep under the prefill-first replay of
/// then, did not move).
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
pub(super) enum Campaign {
    /// AIConfigurator's own sweeps: `source_file=<system>/<backend>/<version>/<model>.csv`.
    Aic,
    /// InferenceX runs: `db-dump/...` or `source_file=<date>.csv; model=...`; every
    /// prompt and output length drawn uniformly from `[0.8 x L, L]` (random range ratio 0.8).
    InferenceX,
    /// Anything else (internal jobs, hand-made rows): fixed lengths.
    Unknown,
}

impl Campaign {
    pub(super) fn of(source: &str) -> Campaign {
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
    pub(super) fn length(self, tokens: u32) -> String {
        match self {
            Campaign::InferenceX => format!(
                "kind = \"uniform\"\nmin = {}\nmax = {tokens}",
                (u64::from(tokens) * 4 / 5).max(1)
            ),
            Campaign::Aic | Campaign::Unknown => format!("kind = \"fixed\"\ntokens = {tokens}"),
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Campaign::Aic => "campaign: AIConfigurator sweep (fixed lengths)",
            Campaign::InferenceX => "campaign: InferenceX (lengths uniform in [0.8 x L, L])",
            Campaign::Unknown => "campaign: unknown (fixed lengths)",
        }
    }
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
pub(super) fn client_connection_cap(
    campaign: Campaign,
    backend: &str,
    source: &str,
) -> Option<u32> {
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
pub(super) fn concurrency(source: &str) -> Option<u32> {
    source.split(';').find_map(|part| {
        part.trim()
            .strip_prefix("silicon_concurrency=")
            .and_then(|n| n.trim().parse().ok())
    })
}

/// Appends the row's `[workload]` to `toml`: its campaign's closed loop of `clients`
/// (1 when unknown), the request count and lengths its client used (AIConfigurator's
/// AIPerf harness: AIPerf's 100 prompts, shared on vLLM), the streamed chunk its client
/// timed the first token at when not the first, a note for the AIPerf harness; returns
/// the requests.
#[allow(clippy::too_many_arguments)]
pub(super) fn workload(
    toml: &mut String,
    notes: &mut Vec<String>,
    campaign: Campaign,
    engine: &str,
    isl: u32,
    osl: u32,
    clients: Option<u32>,
    ttft_chunk: Option<u32>,
) -> u64 {
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
    let chunk = ttft_chunk
        .filter(|n| *n > 1)
        .map_or(String::new(), |n| format!("ttft-chunk = {n}\n"));
    let _ = write!(
        toml,
        "\n[workload]\nrequests = {requests}\nwarmup-requests = {warmup}\n{chunk}\n[workload.arrival]\nkind = \"closed-loop\"\nclients = {c}\n\n\
         [workload.output-tokens]\n{}\n\n[workload.input-tokens]\n{input}\n",
        campaign.length(osl)
    );
    requests
}
