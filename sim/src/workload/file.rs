//! The serde mirror of the `[workload]` TOML table.
//!
//! Invariants: these types only describe the file's shape; nothing here is validated
//! beyond types (see [`super::Workload::from_file`]). Every struct denies unknown fields,
//! keys are kebab-case, and tagged tables use `kind = "..."`.

use serde::{Deserialize, Serialize};

/// The `[workload]` table: what requests arrive, when, and how long they are.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WorkloadFile {
    /// Requests to generate (required for synthetic workloads); a cap for traces.
    pub requests: Option<u64>,
    /// `[workload.arrival]`: the arrival process of a synthetic workload.
    pub arrival: Option<ArrivalFile>,
    /// `[workload.input-tokens]`: the prompt-length distribution (tokens).
    pub input_tokens: Option<LengthFile>,
    /// `[workload.output-tokens]`: the output-length distribution (tokens).
    pub output_tokens: Option<LengthFile>,
    /// `[workload.lengths]`: joint input/output lengths (excludes input-/output-tokens).
    pub lengths: Option<JointLengthsFile>,
    /// `[workload.trace]`: replay a trace (excludes arrival and lengths).
    pub trace: Option<TraceFile>,
    /// `[workload.prefix]`: shared prompt prefixes of a synthetic workload.
    pub prefix: Option<PrefixFile>,
    /// `[workload.sessions]`: multi-turn conversations (open-loop synthetic workloads).
    pub sessions: Option<SessionsFile>,
    /// Requests issued first and simulated but not measured (default 0), as
    /// genai-perf/AIPerf `--warmup-request-count`; `requests` are measured after them.
    pub warmup_requests: Option<u64>,
    /// A client aborts a request not finished this long after its arrival, seconds
    /// (default: never).
    pub timeout_s: Option<f64>,
    /// The streamed chunk at which a client times its first token (default 1, the
    /// first): 2 is a client that waits for text when the first chunk carries none.
    pub ttft_chunk: Option<u32>,
}

/// `[workload.sessions]`: each arrival starts a conversation whose later turns resend
/// the whole context (previous prompt and answer) plus a new user message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SessionsFile {
    /// Mean turns per conversation (geometric, >= 1; 1 = single-turn).
    pub turns_mean: f64,
    /// Mean time from one turn's arrival to the next turn's, seconds (exponential, >= 0).
    pub turn_gap_s: f64,
    /// End a conversation when its next prompt would exceed this, tokens (default: the
    /// token limit, 2^24).
    pub max_input_tokens: Option<u32>,
    /// Tokens per hash block (default: `[workload.prefix]`'s, else 512).
    pub block_tokens: Option<u32>,
}

/// `[workload.prefix]`: prefix sharing between synthetic requests (for prefix caches and
/// KV-aware routers).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    deny_unknown_fields,
    rename_all = "kebab-case",
    rename_all_fields = "kebab-case"
)]
pub enum PrefixFile {
    /// A set of shared prompts (system prompts, few-shot templates); a request starts
    /// with one of them, followed by its sampled input tokens.
    SharedPrompt {
        /// Distinct shared prompts (>= 1).
        prompts: u32,
        /// Tokens of each shared prompt, added to the sampled input length (>= 1).
        tokens: u32,
        /// Zipf exponent of prompt popularity (default 0: uniform).
        zipf_s: Option<f64>,
        /// Fraction of requests that start with a shared prompt, in [0, 1] (default 1).
        fraction: Option<f64>,
        /// Tokens per prefix-hash block (default 512, as in the Mooncake traces).
        block_tokens: Option<u32>,
        /// How requests pick their prompt: `random` (default: each request draws by
        /// popularity) or `shuffle` (every prompt once per pass, each pass in a fresh
        /// random order, as AIPerf samples its dataset by default; uniform only).
        order: Option<PromptOrder>,
    },
}

/// `[workload.prefix] order`: how requests pick their shared prompt.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PromptOrder {
    /// Each request draws its prompt independently, by popularity.
    #[default]
    Random,
    /// Every prompt once per pass over the set, each pass in a fresh random order
    /// (AIPerf's `--dataset-sampling-strategy shuffle`, its default).
    Shuffle,
}

/// `[workload.arrival]`: when requests arrive.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    deny_unknown_fields,
    rename_all = "kebab-case",
    rename_all_fields = "kebab-case"
)]
pub enum ArrivalFile {
    /// Poisson arrivals: exponential gaps with mean `1 / rate-rps` seconds.
    Poisson {
        /// Mean arrival rate, requests per second.
        rate_rps: f64,
    },
    /// Gamma-distributed gaps (shape `1/cv²`): bursty when `cv > 1`, Poisson at `cv = 1`.
    Gamma {
        /// Mean arrival rate, requests per second.
        rate_rps: f64,
        /// Coefficient of variation of the gaps (std / mean, dimensionless).
        cv: f64,
    },
    /// Deterministic arrivals every `1 / rate-rps` seconds.
    Constant {
        /// Arrival rate, requests per second.
        rate_rps: f64,
    },
    /// Poisson arrivals whose rate follows a schedule (ramps, steps, diurnal cycles).
    Schedule {
        /// `{ at-s, rate-rps }` points; the first at 0 s, times strictly increasing.
        points: Vec<RatePointFile>,
        /// Between points: `linear` ramps (default) or `step` (hold until the next).
        interpolation: Option<Interpolation>,
        /// Repeat the schedule with this period, seconds (> the last point's `at-s`);
        /// without it the last rate holds forever.
        repeat_s: Option<f64>,
    },
    /// Closed loop: `clients` users, each sends its next request after the previous
    /// one completes and an exponential think time.
    ClosedLoop {
        /// Concurrent clients (requests in flight at most).
        clients: u32,
        /// Mean think time between a response and the next request, ms (default 0).
        think_time_ms: Option<f64>,
    },
}

/// One point of a rate schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RatePointFile {
    /// When this rate applies, seconds since the start of the run (or of the period).
    pub at_s: f64,
    /// Arrival rate at that time, requests per second (>= 0).
    pub rate_rps: f64,
}

/// How a rate schedule moves between its points.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Interpolation {
    /// Linear ramps between points.
    #[default]
    Linear,
    /// Each rate holds until the next point.
    Step,
}

/// `[workload.input-tokens]` / `[workload.output-tokens]`: a length distribution, tokens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    deny_unknown_fields,
    rename_all = "kebab-case",
    rename_all_fields = "kebab-case"
)]
pub enum LengthFile {
    /// Always `tokens` tokens, or uniform in `tokens x (1 ± jitter)` with `jitter`.
    Fixed {
        /// Tokens (>= 1).
        tokens: u32,
        /// Relative jitter in [0, 0.5] (default none): each length is drawn uniformly in
        /// `tokens x (1 ± jitter)`, rounded, at least 1.
        jitter: Option<f64>,
    },
    /// Uniform integer in `[min, max]`, both inclusive.
    Uniform {
        /// Smallest length, tokens (>= 1).
        min: u32,
        /// Largest length, tokens (>= min).
        max: u32,
    },
    /// Normal, rounded to an integer and rejection-truncated to `[min, max]`.
    Normal {
        /// Mean of the untruncated normal, tokens.
        mean: f64,
        /// Standard deviation of the untruncated normal, tokens.
        std: f64,
        /// Smallest length kept, tokens (default 1).
        min: Option<u32>,
        /// Largest length kept, tokens (default: no bound).
        max: Option<u32>,
    },
    /// Log-normal with the given mean and std of the tokens, rejection-truncated.
    Lognormal {
        /// Mean of the untruncated distribution, tokens (> 0).
        mean: f64,
        /// Standard deviation of the untruncated distribution, tokens.
        std: f64,
        /// Smallest length kept, tokens (default 1).
        min: Option<u32>,
        /// Largest length kept, tokens (default: no bound).
        max: Option<u32>,
    },
    /// Drawn from a histogram of lengths, as the engines export them (vLLM
    /// `vllm:request_prompt_tokens`, SGLang `sglang:prompt_tokens_histogram`): a bucket
    /// with probability `count / total`, then a length inside it (uniform, or shaped so
    /// the whole distribution has `mean`).
    Histogram {
        /// Inclusive upper bound of each bucket, tokens, strictly increasing (>= 1):
        /// bucket `i` holds the lengths in `(upper-bounds[i-1], upper-bounds[i]]`, the
        /// first from 1.
        upper_bounds: Vec<u32>,
        /// Observations in each bucket (not cumulative), as many as `upper-bounds`.
        counts: Vec<u64>,
        /// Mean length, tokens (a histogram's `_sum / _count`); default: uniform within
        /// each bucket.
        mean: Option<f64>,
    },
    /// Rows drawn uniformly from a column of a CSV file (`.gz` ok) or `builtin:sharegpt`.
    Empirical {
        /// CSV file (relative to the scenario folder) or a `builtin:` name.
        path: String,
        /// Column header (default for `builtin:` files: their input or output column).
        column: Option<String>,
    },
}

/// `[workload.lengths]`: input and output lengths drawn together.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    deny_unknown_fields,
    rename_all = "kebab-case",
    rename_all_fields = "kebab-case"
)]
pub enum JointLengthsFile {
    /// One CSV row drawn uniformly gives both lengths.
    EmpiricalJoint {
        /// CSV file (relative to the scenario folder) or a `builtin:` name.
        path: String,
        /// Column of prompt tokens (default for `builtin:` files).
        input_column: Option<String>,
        /// Column of output tokens (default for `builtin:` files).
        output_column: Option<String>,
    },
}

/// `[workload.trace]`: replay recorded arrivals and lengths.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TraceFile {
    /// The trace's file format.
    pub format: TraceFormat,
    /// CSV/JSONL file, optionally gzip-compressed, or a `builtin:` trace name.
    pub path: String,
    /// Multiply every inter-arrival time by this factor (0.5 = twice the rate).
    pub time_scale: Option<f64>,
    /// Rescale times so the mean rate of the replayed part is this, requests per second.
    pub rate_rps: Option<f64>,
    /// Skip the records before this offset from the trace's first record, seconds.
    pub start_s: Option<f64>,
    /// Replay the (selected, scaled) trace this many times back to back, each copy
    /// offset by one period (the span plus one mean gap) and with its prefix-hash ids
    /// moved into a disjoint id space (default 1: replay once). `requests` then caps the
    /// tiled stream.
    pub tiles: Option<u64>,
}

/// The file format of a trace.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TraceFormat {
    /// Azure LLM inference trace 2023: CSV `TIMESTAMP,ContextTokens,GeneratedTokens`.
    #[serde(rename = "azure-2023")]
    Azure2023,
    /// Mooncake FAST'25: JSONL `timestamp` (ms), `input_length`, `output_length`, `hash_ids`.
    Mooncake,
}

impl TraceFormat {
    /// The TOML spelling of the format.
    pub fn name(self) -> &'static str {
        match self {
            TraceFormat::Azure2023 => "azure-2023",
            TraceFormat::Mooncake => "mooncake",
        }
    }
}
