//! The finite ranges every numeric input is held to: one constant per range, used by the
//! checks (scenario validation, the profile loader, the CLI's flags, the planner's
//! bounds) and quoted by the README, so that a range has one source of truth.
//!
//! Invariants: within these ranges no later computation overflows, divides by zero,
//! rounds a positive duration to 0 ns or loops without bound: token counts fit `u32`
//! sums, instance ids fit their `u16` index, every period is at least
//! [`MIN_PERIOD_S`] (a timer of `max-duration-s / period` firings at most), every rate and
//! efficiency is bounded away from 0 (a gap or a step cost is finite), and every duration
//! is at most [`MAX_SECS`] (far below the ~584 years `u64` nanoseconds hold).

/// Longest duration any field accepts (`simulation.max-duration-s`, autoscaler windows,
/// cold-start phases, schedule points): 10^7 s, about 116 days.
pub const MAX_SECS: f64 = 1e7;

/// Shortest period of a periodic timer or time window (`sample-window-s`, autoscaler
/// sync periods and windows, `max-duration-s`): 1 ms, so a period never rounds to 0 ns
/// and a run of [`MAX_SECS`] fires a timer at most 10^10 times.
pub const MIN_PERIOD_S: f64 = 1e-3;

/// Most tokens any length or budget takes (prompt and output lengths, shared prompts,
/// `max-model-len`, token budgets): 2^24 = 16,777,216, above every released context
/// window, so that sums of a few lengths fit `u32`.
pub const MAX_TOKENS: u32 = 1 << 24;

/// Most hash blocks of one shared prompt (`workload.prefix.tokens / block-tokens`):
/// 2^20, 8 MiB of block ids per request at most.
pub const MAX_PREFIX_BLOCKS: u32 = 1 << 20;

/// Most tokens in one KV or hash block (`engine.kv-block-tokens`, `block-tokens`).
pub const MAX_BLOCK_TOKENS: u32 = 1 << 16;

/// Most instances of one simulated deployment (every role's replicas, or its
/// autoscaler's `max-replicas`, together; the baseline's likewise): instance ids are
/// 16-bit, and each instance holds its own KV accounting.
pub const MAX_INSTANCES: u32 = 16_384;

/// Largest tensor-parallel degree of one instance.
pub const MAX_TP: u32 = 1024;

/// Most GPUs per node (`hardware.gpus-per-node`).
pub const MAX_GPUS_PER_NODE: u32 = 1024;

/// Most running sequences of one instance (`engine.max-num-seqs`).
pub const MAX_NUM_SEQS: u32 = 1 << 20;

/// Most steps TensorRT-LLM's context holds may last (`engine.batch-wait-timeout-iters`,
/// `engine.attention-dp-timeout-iters`, `engine.attention-dp-batching-wait-iters`): far
/// beyond any published setting (10-500), small enough that a held prompt always runs.
pub const MAX_WAIT_ITERS: u32 = 100_000;

/// Largest `engine.stream-interval` (tokens per streamed chunk): beyond any output that
/// streams in more than one chunk.
pub const MAX_STREAM_INTERVAL: u32 = 1 << 16;

/// Largest `workload.ttft-chunk` (the streamed chunk a client times its first token at).
pub const MAX_TTFT_CHUNK: u32 = 64;

/// Most closed-loop clients (`workload.arrival.clients`): one pending event each.
pub const MAX_CLIENTS: u32 = 1_000_000;

/// Most requests of one run (`workload.requests`, `warmup-requests`, `--requests`):
/// each measured request keeps its latencies until the summary.
pub const MAX_REQUESTS: u64 = 100_000_000;

/// Most work of one autoscaler's periodic timer (HPA sync period, SLA-planner adjustment
/// interval, KEDA polling) within `simulation.max-duration-s`: firings x (1 +
/// recommendations of the longest stabilization window scanned at each firing) at most
/// 10^9. The timer fires whether or not requests are in flight, so this bounds an idle
/// run to seconds (the defaults, 15 s sync and 300 s windows over a day, are 1.2 x 10^5).
pub const MAX_TIMER_WORK: u64 = 1_000_000_000;

/// Most bytes of one data file (trace, length CSV), after gzip decompression: 4 GiB, far
/// above the shipped traces (the whole Azure 2023 week is under 1 GB); a path that is
/// not a regular file (`/dev/zero`, a pipe) is refused before it is read (see
/// `xpyd_models::file`, which also bounds scenarios, `config.json` and profiles to
/// `MAX_TEXT_FILE_BYTES`, 1 GiB).
pub const MAX_DATA_BYTES: u64 = 1 << 32;

/// Lowest request rate any field or flag accepts, requests/s (one request per ~11.6
/// days): a mean gap stays far below [`MAX_SECS`]-scale overflow.
pub const MIN_RATE_RPS: f64 = 1e-6;

/// Highest request rate any field or flag accepts, requests/s.
pub const MAX_RATE_RPS: f64 = 1e6;

/// Lowest efficiency fraction (`efficiency.*`, `kv-transfer.efficiency`): a step or
/// transfer costs at most 1000x its roofline time, never an infinite one.
pub const MIN_EFFICIENCY: f64 = 1e-3;

/// Largest fixed overhead or latency, milliseconds (`kv-transfer.bootstrap-ms`,
/// `setup-ms`, `efficiency.step-overhead-ms`, `per-seq-overhead-ms`, SLO objectives,
/// think times): 10^7 ms, about 2.8 hours.
pub const MAX_MS: f64 = 1e7;

/// Slowest and fastest link, Gbit/s or GB/s (`hardware.nic-gbit-s`,
/// `intra-node-gb-s`, cold-start bandwidths).
pub const LINK_RANGE: (f64, f64) = (1e-3, 1e6);

/// Largest activation reserve per GPU, GiB (`engine.activation-reserve-gib`).
pub const MAX_RESERVE_GIB: f64 = 1024.0;

/// Largest price of a GPU-hour, USD.
pub const MAX_GPU_HOUR_USD: f64 = 1e6;

/// Most points of a rate schedule.
pub const MAX_SCHEDULE_POINTS: usize = 100_000;

/// Range of a trace's `time-scale` factor.
pub const TIME_SCALE_RANGE: (f64, f64) = (1e-6, 1e6);

/// Range of a gamma arrival's coefficient of variation (`workload.arrival.cv`).
pub const CV_RANGE: (f64, f64) = (1e-3, 1e3);

/// Largest router weight or temperature (`routing.*-weight`, `temperature`).
pub const MAX_WEIGHT: f64 = 1e6;

/// Most blocks a router's prefix tree or LRU index holds
/// (`routing.cache-aware.max-tree-blocks`, `routing.gaie.lru-capacity-blocks`).
pub const MAX_CACHE_BLOCKS: u32 = 1 << 24;

/// Bytes in a GiB.
pub const GIB: f64 = (1u64 << 30) as f64;

/// Default memory budget of one simulated run and of a plan's search, GiB
/// (`simulation.memory-budget-gib`, `xpyd plan --memory-budget-gib`).
pub const DEFAULT_MEMORY_BUDGET_GIB: f64 = 8.0;

/// Range of a memory budget, GiB.
pub const MEMORY_BUDGET_RANGE_GIB: (f64, f64) = (1e-3, 1e6);

/// Bytes counted per simulated request held (its state, events and queue entries; about
/// 1.4 KiB measured in an overloaded run), plus 8 per prefix-hash block it carries.
pub const REQUEST_BYTES: u64 = 2 << 10;

/// Range of a checkpoint's size, GiB (`cold-start.checkpoint-gib`).
pub const CHECKPOINT_RANGE_GIB: (f64, f64) = (1e-3, 1e6);

/// Most workers of a distributed cache (`cold-start.cache-workers`).
pub const MAX_CACHE_WORKERS: u32 = 16_384;
