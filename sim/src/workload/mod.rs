//! Workloads: when requests arrive and how many tokens they carry.
//!
//! A scenario's `[workload]` table is read into a [`WorkloadFile`] (the serde mirror),
//! validated into a [`Workload`] ([`Workload::from_file`]), and turned into a
//! [`WorkloadGen`] the engine pulls [`RequestSpec`]s from.
//!
//! # Invariants
//!
//! - Determinism: every draw comes from a seeded per-purpose stream
//!   ([`crate::rng::Stream`]: `Arrivals`, `InputLen`, `OutputLen`, `Think`, `Prefix`),
//!   so the same workload and seed give the same requests, and changing one purpose's
//!   draws never shifts another's.
//! - Requests carry `block_hashes` (one id per `hash_block_tokens` tokens of the prompt;
//!   equal leading ids mean a shareable prefix) only for Mooncake traces and synthetic
//!   workloads with `[workload.prefix]` or `[workload.sessions]`; otherwise the list is
//!   empty and `hash_block_tokens` is 0.
//! - Open-loop arrival times are non-decreasing. Synthetic arrivals start at the first
//!   gap (not at 0); traces are rebased so their first replayed record arrives at 0.
//! - Every request has `input_tokens >= 1` and `output_tokens >= 1`. Distributions are
//!   never clipped silently: `normal`/`lognormal` are rejection-truncated to `[min, max]`.
//!   Trace records with 0 output tokens (none in the shipped traces) are replayed with 1;
//!   0 input tokens is an error.
//! - Synthetic generators stream: memory does not grow with `requests` (a million
//!   requests is fine; with sessions it is bounded by the conversations in flight).
//!   Traces and empirical tables are read once, when the generator is built; a tiled
//!   trace holds one copy and derives the others as it replays them.
//! - Warm-up and timeouts are client semantics the engine applies: the generator issues
//!   `warmup-requests + requests` requests (the first ones are warm-up, by issue order),
//!   and [`Workload::timeout`] is how long a client waits for each.
//! - Every configuration or data error is a fatal [`WorkloadError`] naming the TOML field
//!   (`workload.arrival.rate-rps`) or the file and line.
//!
//! # TOML reference
//!
//! ```toml
//! [workload]
//! requests = 2000            # synthetic: requests to generate (required); trace: optional cap
//! # warmup-requests = 100    # issued first, simulated, not measured (default 0); `requests`
//! #                          # more follow (a trace's cap becomes requests + warm-up)
//! # timeout-s = 60.0         # a client aborts a request unfinished this long after its
//! #                          # arrival: outcome `timed-out` (0 < x <= 86400; default never)
//! # ttft-chunk = 2           # the streamed chunk a client times its first token at, 1 to
//! #                          # 64 (default 1); 2: a client that waits for text when the
//! #                          # first chunk carries none (chunks: `engine.stream-interval`)
//!
//! [workload.arrival]         # synthetic only
//! kind = "poisson"           # rate-rps: exponential gaps
//! rate-rps = 10.0
//! # kind = "gamma"           # rate-rps, cv: Gamma gaps, shape 1/cv² (cv = 1 is Poisson)
//! # kind = "constant"        # rate-rps: request k arrives at round(k / rate) s
//! # kind = "schedule"        # Poisson with a rate that follows points (ramps, steps, diurnal):
//! # points = [{ at-s = 0, rate-rps = 2 }, { at-s = 600, rate-rps = 20 }]
//! # interpolation = "linear"  # or "step" (hold each rate until the next point)
//! # repeat-s = 1200           # optional period; without it the last rate holds forever
//! # kind = "closed-loop"     # clients, think-time-ms (mean of an exponential; default 0)
//!
//! [workload.input-tokens]    # and [workload.output-tokens]; all lengths in tokens
//! kind = "lognormal"         # mean, std of the tokens; min (default 1), max (default none)
//! mean = 1000.0
//! std = 500.0
//! max = 8192
//! # kind = "fixed"           # tokens; optional jitter = 0.01 (in [0, 0.5]): each length
//! #                          # uniform in tokens x (1 ± jitter), rounded, at least 1, drawn
//! #                          # from that length's own stream (0 or absent: no draw)
//! # kind = "uniform"         # min, max (inclusive)
//! # kind = "normal"          # mean, std, min (default 1), max (default none)
//! # kind = "empirical"       # path (CSV, .gz ok, or "builtin:sharegpt"), column
//! # kind = "histogram"       # upper-bounds = [100, 200, 500], counts = [7, 30, 11]:
//! #                          # a bucket by its count, then a length in (previous bound,
//! #                          # bound]; optional mean (tokens) shapes each bucket's
//! #                          # density so the mean matches (default: uniform in buckets)
//!
//! # Instead of input-/output-tokens: both lengths from one uniformly drawn CSV row.
//! # [workload.lengths]
//! # kind = "empirical-joint"
//! # path = "builtin:sharegpt"          # columns default to num_prefill_tokens, num_decode_tokens
//! # input-column = "num_prefill_tokens"
//! # output-column = "num_decode_tokens"
//!
//! # Optional, synthetic only: requests start with one of `prompts` shared prompts, so
//! # prefix caches and KV-aware routers see reuse. Adds `tokens` to the sampled input and
//! # fills block_hashes (one id per block-tokens tokens; the prompt's full blocks shared).
//! # [workload.prefix]
//! # kind = "shared-prompt"
//! # prompts = 8                        # distinct shared prompts
//! # tokens = 1024                      # tokens of each
//! # zipf-s = 1.0                       # popularity skew (default 0 = uniform)
//! # fraction = 0.8                     # share of requests with a shared prompt (default 1)
//! # block-tokens = 512                 # tokens per hash block (default 512, as Mooncake)
//! # order = "shuffle"                  # every prompt once per pass, passes in random order
//! #                                    # (AIPerf's dataset sampling; default "random")
//!
//! # Optional, open-loop synthetic only: each arrival starts a conversation; turn k + 1
//! # arrives an exponential gap after turn k and sends turn k's prompt and answer plus a
//! # new input-tokens message, so its hashes start with turn k's full prompt blocks.
//! # rate-rps is then the conversation rate (requests/s = rate x turns-mean).
//! # [workload.sessions]
//! # turns-mean = 4.0                   # geometric turns per conversation (>= 1)
//! # turn-gap-s = 30.0                  # mean gap between a turn and the next (exponential)
//! # max-input-tokens = 32768           # end a conversation before a longer prompt (default 2^24)
//! # block-tokens = 512                 # default: [workload.prefix]'s, else 512
//!
//! # Instead of arrival, lengths, prefix and sessions: replay a trace.
//! # [workload.trace]
//! # format = "azure-2023"              # or "mooncake"
//! # path = "builtin:azure-2023-conv"   # or a CSV/JSONL file, gzip detected by magic bytes
//! # time-scale = 0.5                   # multiply gaps (0.5 = twice the rate); or rate-rps = X
//! # start-s = 600.0                    # skip the first 10 minutes
//! # tiles = 100                        # replay it 100 times back to back (default 1): copy k
//! #                                    # arrives k x (span + one mean gap) later, with its
//! #                                    # hash ids shifted by k x (largest id + 1) so copies
//! #                                    # share no prefix; `requests` caps the tiled stream and
//! #                                    # rate-rps / time-scale apply to each copy (1 to 10^8;
//! #                                    # streamed: one copy is held, never the N)
//! ```
//!
//! Built-in files (embedded from `sim/data/`, provenance in `sim/data/README.md`):
//! `builtin:azure-2023-conv`, `builtin:azure-2023-code` (Azure 2023 traces, CSV),
//! `builtin:mooncake-conversation`, `builtin:mooncake-synthetic` (Mooncake FAST'25
//! traces, JSONL, prefix hashes of 512-token blocks), `builtin:sharegpt` (length table:
//! `num_prefill_tokens`, `num_decode_tokens`). The Azure tables can also feed `empirical`
//! lengths (`ContextTokens`, `GeneratedTokens`).

mod arrival;
mod data;
mod error;
mod file;
mod generator;
mod length;
mod prefix;
mod session;
mod spec;
mod trace;

pub use error::WorkloadError;
pub use file::{
    ArrivalFile, Interpolation, JointLengthsFile, LengthFile, PrefixFile, PromptOrder,
    RatePointFile, SessionsFile, TraceFile, TraceFormat, WorkloadFile,
};
pub use generator::WorkloadGen;
pub use spec::Workload;

use crate::time::SimTime;

/// One request as the workload issues it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestSpec {
    /// When the request arrives at the router.
    pub arrival: SimTime,
    /// Prompt length, tokens (>= 1).
    pub input_tokens: u32,
    /// Tokens to generate (>= 1).
    pub output_tokens: u32,
    /// Prefix-block hashes (Mooncake hash_ids), empty when the workload has none.
    pub block_hashes: Vec<u64>,
    /// Tokens per hash block (512 for Mooncake; 0 when there are no hashes).
    pub hash_block_tokens: u32,
    /// Conversation id for multi-turn sessions (every turn of one conversation shares
    /// it); `None` for single requests and traces without one.
    pub session: Option<u64>,
}

/// How requests are issued.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ArrivalMode {
    /// Arrival times are fixed in advance ([`WorkloadGen::next_open`]).
    Open,
    /// `clients` users each issue a request when their previous one completes and a
    /// think time passes ([`WorkloadGen::next_closed`], [`WorkloadGen::think_time`]).
    Closed {
        /// Concurrent clients.
        clients: u32,
    },
}

#[cfg(test)]
mod tests;
