//! The engine layer: what a serving engine (vLLM, SGLang, TensorRT-LLM) adds around the
//! kernels, as a few physically meaningful parameters per engine x GPU ([`EngineParams`]),
//! fitted on measured serving runs (`xpyd calibrate fit-engine`) and shipped built in
//! ([`EngineProfile::builtin`], from `models/profiles/engine.json`).
//!
//! The parameters and where they act:
//!
//! - `prefill_scale`, `decode_scale`: the engine's kernels relative to the calibrated ones
//!   (its own GEMM/attention kernels, fusion, clocks under load). A step's kernel terms are
//!   multiplied by `(p * prefill_scale + d * decode_scale) / (p + d)` with `p` its prefill
//!   tokens and `d` its decoding sequences ([`EngineParams::kernel_factor`]).
//! - `step_overhead_ms`, `per_seq_overhead_us`: CPU time per step the GPU does not hide
//!   (scheduling, input preparation, sampling, detokenisation), per step and per sequence.
//!   They replace the roofline's assumed overheads.
//! - `cpu_overlap` (0..=1): how much of that CPU time runs while the GPU computes
//!   (asynchronous scheduling): a step takes `kernels + cpu - cpu_overlap x min(cpu,
//!   kernels)`, so 0 adds the CPU time to every step and 1 makes the step the longer of
//!   the two (the CPU shows only when it is the bottleneck: small models, large batches).
//! - `frontend_ms`: time outside the engine loop that a client sees in every response (API
//!   server, tokenisation, streaming): added to TTFT and end-to-end latency by the simulator.
//! - `max_batched_tokens`: the per-step token budget the measured deployments behaved as;
//!   the default of `engine.max-batched-tokens` when a scenario does not set one.
//! - `layer_floor_us`: the least GPU time a layer takes in any step (kernel launches and
//!   the unfused glue between them): a step's kernel terms are raised together to at
//!   least `layers x layer_floor_us`. 0 for engines whose graphs and fusion leave no floor
//!   above the calibrated kernels.
//! - `allreduce_latency_us`: latency per tensor-parallel all-reduce call beyond the
//!   calibrated transfer (a stock NCCL call against an engine's custom one-shot
//!   all-reduce): added once per call, two calls per layer at TP > 1, none at TP 1.
//! - `mxfp4_compute_scale`, `mxfp4_memory_scale`: the engine's MXFP4 routed-expert GEMMs
//!   (gpt-oss) relative to the roofline's compute time (72% of the bf16 tensor rate:
//!   Hopper has no FP4 tensor cores and engines upcast the weights in their own Triton
//!   kernels) and weight-reading time (85% of HBM): the routed experts of an MXFP4 model
//!   take `max(compute x mxfp4_compute_scale, memory x mxfp4_memory_scale)` plus
//!   `mxfp4_layer_us` per MoE layer (the fixed time of their kernels: routing, gathers and
//!   launches, whatever the shard size). 1 and 0 (absent) for every other weight format
//!   and wherever a calibration profile measured MXFP4 experts.
//! - `fp8_moe_roofline` with `fp8_moe_memory_scale` and `fp8_moe_layer_us`: the same
//!   form for FP8 routed experts (DeepSeek, Qwen3-MoE FP8 checkpoints), their compute at
//!   the roofline's rate. Where set, an FP8-expert model's MoE layers are priced by the
//!   roofline with these terms instead of the profile's grouped-GEMM tables: the engine's own
//!   expert kernels (vLLM's DeepGEMM grouped GEMM with 128-row blocks per expert,
//!   TensorRT-LLM's and SGLang's fused MoE) are not the ones measured on the GPU machine
//!   (torch's scaled grouped GEMM, our Triton kernel), whose fixed time at small expert
//!   shards does not scale with tensor parallelism as the engines' runs do. Absent
//!   (false, 1, 1, 0): the tables, as before.
//! - `async_scheduling`: the engine plans step k + 1 while step k runs (vLLM
//!   `--async-scheduling`, SGLang's overlap scheduler, TensorRT-LLM's overlap scheduler),
//!   so a request that arrives during step k joins step k + 2; the default of
//!   `engine.async-scheduling`. Acted on by the simulator's instances, not here.
//!
//! Invariants: every parameter is finite and inside the range [`EngineParams::check`]
//! states (the fit searches inside the same ranges); a profile names its engine, GPU and
//! where its numbers come from (`source`), and the built-in file parses (tested).

use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// Engines an engine profile may describe, as named in profiles and reports.
pub const ENGINES: [&str; 3] = ["vllm", "sglang", "trtllm"];

/// Engines that run steps with prompt tokens without CUDA graphs (graphs of decode-only
/// batches only: TensorRT-LLM's PyTorch backend, `DecodeCudaGraphConfig`; SGLang's
/// decode graphs), whose MoE layers' eager floor `moe-eager-layer-us` is fitted. vLLM
/// captures piecewise graphs of mixed batches with its MoE layers inside them.
pub const EAGER_PROMPT_ENGINES: [&str; 2] = ["sglang", "trtllm"];

/// The engine-layer parameters of one engine on one GPU.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct EngineParams {
    /// Kernel time of prefill tokens relative to the calibrated kernels (0.25..=4).
    pub prefill_scale: f64,
    /// Kernel time of decoding sequences relative to the calibrated kernels (0.25..=4).
    pub decode_scale: f64,
    /// CPU time per step not hidden behind the GPU, ms (0..=50).
    pub step_overhead_ms: f64,
    /// CPU time per sequence per step, microseconds (0..=1000).
    pub per_seq_overhead_us: f64,
    /// Share of the CPU time hidden behind the GPU's (0..=1; 0 when absent).
    #[serde(default)]
    pub cpu_overlap: f64,
    /// Front-end time in every response (TTFT and E2E), ms (0..=10000).
    pub frontend_ms: f64,
    /// Per-step token budget of the measured deployments (default of
    /// `engine.max-batched-tokens`), 64..=1048576; `None`: the backend's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_batched_tokens: Option<u32>,
    /// Least GPU time per layer per step, microseconds (0..=200; 0 when absent).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub layer_floor_us: f64,
    /// Latency per all-reduce call beyond the calibrated transfer, microseconds
    /// (0..=100; 0 when absent).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub allreduce_latency_us: f64,
    /// Step k + 1 is planned while step k runs (default of `engine.async-scheduling`;
    /// false when absent).
    #[serde(default, skip_serializing_if = "is_false")]
    pub async_scheduling: bool,
    /// Least time per MoE layer of a step with prompt tokens, microseconds (0..=2000; 0
    /// when absent): engines that capture CUDA graphs of decode-only batches only
    /// (TensorRT-LLM's PyTorch backend, SGLang without piecewise graphs) launch every
    /// kernel of such a step from the CPU, and an MoE layer (routing, expert dispatch,
    /// grouped GEMMs, combine) launches many. Fitted on MoE runs with the rest of the
    /// layer held (`xpyd calibrate fit-engine --moe-eager`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub moe_eager_layer_us: f64,
    /// The engine's MXFP4 routed-expert GEMMs' compute time relative to the roofline's
    /// (0.5..=8; 1 when absent): no MXFP4 expert kernel of the engines' speed is measured
    /// on the GPU machine yet, so this is fitted on the MXFP4 runs with the rest of the
    /// layer held (`xpyd calibrate fit-engine --mxfp4-experts`).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub mxfp4_compute_scale: f64,
    /// The same kernels' weight-reading time relative to the roofline's (0.5..=8; 1 when
    /// absent), fitted with `mxfp4_compute_scale`.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub mxfp4_memory_scale: f64,
    /// Fixed time of the same kernels per MoE layer, microseconds (0..=500; 0 when
    /// absent), fitted with the two scales.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub mxfp4_layer_us: f64,
    /// FP8 routed experts are priced by the roofline with the `fp8-moe-*` terms instead
    /// of the calibration profile's tables (false when absent; set by `xpyd calibrate
    /// fit-engine --fp8-experts`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub fp8_moe_roofline: bool,
    /// With `fp8-moe-roofline`: their weight-reading time relative to the roofline's
    /// (0.85..=8; 1 when absent).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub fp8_moe_memory_scale: f64,
    /// With `fp8-moe-roofline`: their fixed time per MoE layer, microseconds (0..=500; 0
    /// when absent).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub fp8_moe_layer_us: f64,
}

fn one() -> f64 {
    1.0
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_one(x: &f64) -> bool {
    *x == 1.0
}

// `&T` because serde's `skip_serializing_if` passes a reference.
#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero_usize(x: &usize) -> bool {
    *x == 0
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_false(x: &bool) -> bool {
    !*x
}

/// The closed ranges [`EngineParams::check`] accepts, by field name (also the fit's bounds).
pub const RANGES: [(&str, f64, f64); 15] = [
    ("prefill-scale", 0.25, 4.0),
    ("decode-scale", 0.25, 4.0),
    ("step-overhead-ms", 0.0, 50.0),
    ("per-seq-overhead-us", 0.0, 1000.0),
    ("cpu-overlap", 0.0, 1.0),
    ("frontend-ms", 0.0, 10000.0),
    ("max-batched-tokens", 64.0, 1_048_576.0),
    ("layer-floor-us", 0.0, 200.0),
    ("allreduce-latency-us", 0.0, 100.0),
    // An MoE layer launches some 30-60 kernels (norms, attention, router, top-k, expert
    // dispatch, grouped GEMMs, combine, all-reduce) at 10-40 us of CPU each in eager
    // PyTorch: 2 ms per layer is the most a launch floor can explain.
    ("moe-eager-layer-us", 0.0, 2000.0),
    // Below 0.5 the kernel would beat the bf16 tensor rate the upcast weights run at; 8
    // is a kernel at 9% of peak, the slowest measured (our own register-dequantising
    // kernel, 123 TFLOP/s at 8,192 tokens on an H200, calibrate/measurements/moe_mxfp4_h200).
    ("mxfp4-compute-scale", 0.5, 8.0),
    // Below 0.5 the weights would stream faster than HBM; 8: at a tenth of it, as our
    // own kernel at 1-4 tokens (0.16-0.51 TB/s on an H200, the same file).
    ("mxfp4-memory-scale", 0.5, 8.0),
    // A layer's MXFP4 expert path launches some 5-10 kernels (routing, sort, gathers,
    // two grouped GEMMs, scatter) at 5-50 us each when they are not in a graph.
    ("mxfp4-layer-us", 0.0, 500.0),
    // The roofline reads at 85% of HBM: 0.85 is HBM's peak; 8 is a kernel at a tenth.
    ("fp8-moe-memory-scale", 0.85, 8.0),
    // As `mxfp4-layer-us`: the expert path's kernels per layer outside a graph.
    ("fp8-moe-layer-us", 0.0, 500.0),
];

impl EngineParams {
    /// No engine layer: kernels as calibrated, no overheads, no front-end time.
    pub const NEUTRAL: EngineParams = EngineParams {
        prefill_scale: 1.0,
        decode_scale: 1.0,
        step_overhead_ms: 0.0,
        per_seq_overhead_us: 0.0,
        cpu_overlap: 0.0,
        frontend_ms: 0.0,
        max_batched_tokens: None,
        layer_floor_us: 0.0,
        allreduce_latency_us: 0.0,
        async_scheduling: false,
        moe_eager_layer_us: 0.0,
        mxfp4_compute_scale: 1.0,
        mxfp4_memory_scale: 1.0,
        mxfp4_layer_us: 0.0,
        fp8_moe_roofline: false,
        fp8_moe_memory_scale: 1.0,
        fp8_moe_layer_us: 0.0,
    };

    /// The first field outside its range, as `(field, value, min, max)`.
    pub fn check(&self) -> Result<(), (&'static str, f64, f64, f64)> {
        let values = [
            self.prefill_scale,
            self.decode_scale,
            self.step_overhead_ms,
            self.per_seq_overhead_us,
            self.cpu_overlap,
            self.frontend_ms,
            self.max_batched_tokens.map_or(64.0, f64::from),
            self.layer_floor_us,
            self.allreduce_latency_us,
            self.moe_eager_layer_us,
            self.mxfp4_compute_scale,
            self.mxfp4_memory_scale,
            self.mxfp4_layer_us,
            self.fp8_moe_memory_scale,
            self.fp8_moe_layer_us,
        ];
        for ((name, lo, hi), v) in RANGES.iter().zip(values) {
            if !(v.is_finite() && v >= *lo && v <= *hi) {
                return Err((name, v, *lo, *hi));
            }
        }
        Ok(())
    }

    /// The factor on a step's kernel terms: `(p prefill_scale + d decode_scale) / (p + d)`
    /// (1 for an empty step).
    pub fn kernel_factor(&self, prefill_tokens: u64, decode_seqs: u32) -> f64 {
        let (p, d) = (prefill_tokens as f64, f64::from(decode_seqs));
        if p + d == 0.0 {
            return 1.0;
        }
        (p * self.prefill_scale + d * self.decode_scale) / (p + d)
    }

    /// CPU overhead of a step with `seqs` sequences, seconds.
    pub fn overhead_s(&self, seqs: f64) -> f64 {
        self.step_overhead_ms * 1e-3 + self.per_seq_overhead_us * 1e-6 * seqs
    }

    /// The kernel seconds of a step of `layers` layers and `allreduce_calls` all-reduce
    /// calls whose calibrated kernel terms (already times [`Self::kernel_factor`]) sum to
    /// `kernels_s`: plus the all-reduce latency per call, then raised to the layer floor,
    /// and in a step with prompt tokens (`eager_moe_layers`: its MoE layers, 0 in a
    /// decode-only step) to the eager floor of its MoE layers (an empty step stays empty).
    pub fn floored_kernels_s(
        &self,
        kernels_s: f64,
        layers: f64,
        allreduce_calls: f64,
        eager_moe_layers: f64,
    ) -> f64 {
        if kernels_s <= 0.0 {
            return kernels_s;
        }
        let with_latency = kernels_s + allreduce_calls * self.allreduce_latency_us * 1e-6;
        with_latency
            .max(layers * self.layer_floor_us * 1e-6)
            .max(eager_moe_layers * self.moe_eager_layer_us * 1e-6)
    }

    /// The part of `cpu_s` of CPU time that a step with `kernels_s` of GPU time does not
    /// hide: `cpu - cpu_overlap x min(cpu, kernels)`.
    pub fn exposed_overhead_s(&self, cpu_s: f64, kernels_s: f64) -> f64 {
        cpu_s - self.cpu_overlap * cpu_s.min(kernels_s)
    }
}

/// Error statistics a fit reports for one mode on its checking folds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct FitErrors {
    /// `aggregated` or `disaggregated`.
    pub mode: String,
    /// Rows checked (each in the fold that did not see it).
    pub rows: usize,
    /// Median |error| of mean TTFT.
    pub ttft_median: f64,
    /// p90 |error| of mean TTFT.
    pub ttft_p90: f64,
    /// Median |error| of mean TPOT.
    pub tpot_median: f64,
    /// p90 |error| of mean TPOT.
    pub tpot_p90: f64,
}

/// One engine's parameters on one GPU, with their provenance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct EngineProfile {
    /// Engine (`vllm`, `sglang`, `trtllm`).
    pub engine: String,
    /// GPU id (`h100`, `h200`).
    pub gpu: String,
    /// Engine version the profile was fitted on (`None`: any version; fitted on runs of
    /// every version, or of unrecorded ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Where the numbers come from (files, rows, date, command).
    pub source: String,
    /// The parameters.
    pub params: EngineParams,
    /// Rows the parameters were fitted on.
    #[serde(default)]
    pub fitted_rows: usize,
    /// k-fold checking errors per mode (rows the fold's fit did not see).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checked: Vec<FitErrors>,
    /// Errors per mode on mixture-of-experts runs: never fitted on, or with
    /// `moe_fitted_rows` > 0 the k-fold check of the MoE term (each run replayed with the
    /// term fitted on the other folds).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub moe_checked: Vec<FitErrors>,
    /// MoE runs `moe-eager-layer-us` was fitted on (`fit-engine --moe-eager`); 0: none,
    /// and `moe_checked` are then runs the layer never saw.
    #[serde(default, skip_serializing_if = "is_zero_usize")]
    pub moe_fitted_rows: usize,
    /// MXFP4-expert runs `mxfp4-compute-scale` and `mxfp4-memory-scale` were fitted on
    /// (`fit-engine --mxfp4-experts`); 0: none.
    #[serde(default, skip_serializing_if = "is_zero_usize")]
    pub mxfp4_fitted_rows: usize,
    /// The k-fold check of the MXFP4 scales per mode (each MXFP4 run replayed with the
    /// scales fitted on the other folds); empty when they were not fitted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mxfp4_checked: Vec<FitErrors>,
    /// FP8-expert runs the `fp8-moe-*` terms were fitted on (`fit-engine
    /// --fp8-experts`); 0: none.
    #[serde(default, skip_serializing_if = "is_zero_usize")]
    pub fp8_moe_fitted_rows: usize,
    /// The k-fold check of the `fp8-moe-*` terms per mode; empty when not fitted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fp8_moe_checked: Vec<FitErrors>,
}

/// The file of engine profiles: `{"profiles": [...]}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineProfiles {
    /// One entry per engine x GPU.
    pub profiles: Vec<EngineProfile>,
}

/// An engine-profile file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum EngineProfileError {
    /// Not the JSON of [`EngineProfiles`].
    #[error("{path}: {message}")]
    Parse {
        /// Field path in the file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A parameter outside its range.
    #[error(
        "profiles[{index}].params.{field}: {value} is outside the allowed range [{min}, {max}]"
    )]
    Range {
        /// Index of the profile.
        index: usize,
        /// Field.
        field: &'static str,
        /// Value.
        value: f64,
        /// Minimum.
        min: f64,
        /// Maximum.
        max: f64,
    },
    /// An engine name outside [`ENGINES`].
    #[error("profiles[{index}].engine: {engine:?} is not one of vllm, sglang, trtllm")]
    Engine {
        /// Index of the profile.
        index: usize,
        /// The name.
        engine: String,
    },
}

impl EngineProfiles {
    /// Parse and check a profiles file's text.
    pub fn parse(text: &str) -> Result<EngineProfiles, EngineProfileError> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let file: EngineProfiles =
            serde_path_to_error::deserialize(de).map_err(|e| EngineProfileError::Parse {
                path: e.path().to_string(),
                message: e.inner().to_string(),
            })?;
        for (index, p) in file.profiles.iter().enumerate() {
            if !ENGINES.contains(&p.engine.as_str()) {
                return Err(EngineProfileError::Engine {
                    index,
                    engine: p.engine.clone(),
                });
            }
            p.params
                .check()
                .map_err(|(field, value, min, max)| EngineProfileError::Range {
                    index,
                    field,
                    value,
                    min,
                    max,
                })?;
        }
        Ok(file)
    }

    /// The profile of `engine` on `gpu`: the one fitted on `version` when there is one,
    /// else the version-less one.
    pub fn find(&self, engine: &str, gpu: &str, version: Option<&str>) -> Option<&EngineProfile> {
        let of = |v: Option<&str>| {
            self.profiles
                .iter()
                .find(|p| p.engine == engine && p.gpu == gpu && p.version.as_deref() == v)
        };
        version.and_then(|v| of(Some(v))).or_else(|| of(None))
    }
}

impl EngineProfile {
    /// The shipped version-less profile of `engine` on `gpu` (`None`: not fitted for that
    /// pair).
    pub fn builtin(engine: &str, gpu: &str) -> Option<&'static EngineProfile> {
        builtin_profiles().find(engine, gpu, None)
    }

    /// The shipped profile of `engine` on `gpu` for `version` (the version-less one when
    /// none was fitted on that version).
    pub fn builtin_for(
        engine: &str,
        gpu: &str,
        version: Option<&str>,
    ) -> Option<&'static EngineProfile> {
        builtin_profiles().find(engine, gpu, version)
    }

    /// `engine/gpu`, with `@version` when the profile is version-specific.
    pub fn key(&self) -> String {
        match &self.version {
            Some(v) => format!("{}/{}@{v}", self.engine, self.gpu),
            None => format!("{}/{}", self.engine, self.gpu),
        }
    }
}

/// The shipped engine profiles (`models/profiles/engine.json`), parsed once.
pub fn builtin_profiles() -> &'static EngineProfiles {
    static FILE: OnceLock<EngineProfiles> = OnceLock::new();
    FILE.get_or_init(|| {
        EngineProfiles::parse(include_str!("../profiles/engine.json"))
            .expect("the shipped engine profiles parse (tested)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_profiles_parse_and_are_in_range() {
        let file = builtin_profiles();
        for p in &file.profiles {
            assert!(p.params.check().is_ok(), "{} {}", p.engine, p.gpu);
            assert!(!p.source.is_empty());
        }
    }

    #[test]
    fn kernel_factor_weights_prefill_tokens_and_decode_sequences() {
        let p = EngineParams {
            prefill_scale: 2.0,
            decode_scale: 0.5,
            ..EngineParams::NEUTRAL
        };
        assert_eq!(p.kernel_factor(0, 0), 1.0);
        assert_eq!(p.kernel_factor(100, 0), 2.0);
        assert_eq!(p.kernel_factor(0, 8), 0.5);
        assert!((p.kernel_factor(100, 100) - 1.25).abs() < 1e-12);
    }

    #[test]
    fn layer_floor_and_allreduce_latency_raise_small_steps_only() {
        let p = EngineParams {
            layer_floor_us: 50.0,
            allreduce_latency_us: 10.0,
            ..EngineParams::NEUTRAL
        };
        // 64 layers, 128 calls: 1 ms of kernels + 1.28 ms of latency is under the
        // 3.2 ms floor; 10 ms of kernels is above it.
        assert!((p.floored_kernels_s(1e-3, 64.0, 128.0, 0.0) - 3.2e-3).abs() < 1e-12);
        assert!((p.floored_kernels_s(10e-3, 64.0, 128.0, 0.0) - 11.28e-3).abs() < 1e-12);
        // TP 1: no calls, no latency.
        assert!((p.floored_kernels_s(10e-3, 64.0, 0.0, 0.0) - 10e-3).abs() < 1e-12);
        // An empty step stays empty; the neutral layer changes nothing.
        assert_eq!(p.floored_kernels_s(0.0, 64.0, 128.0, 0.0), 0.0);
        assert_eq!(
            EngineParams::NEUTRAL.floored_kernels_s(1e-3, 64.0, 128.0, 0.0),
            1e-3
        );
    }

    #[test]
    fn moe_eager_floor_raises_prompt_steps_only() {
        let p = EngineParams {
            moe_eager_layer_us: 1000.0,
            ..EngineParams::NEUTRAL
        };
        // 94 MoE layers of a step with prompt tokens: at least 94 ms of kernels.
        assert!((p.floored_kernels_s(20e-3, 94.0, 0.0, 94.0) - 94e-3).abs() < 1e-12);
        // The same kernels in a decode-only step (graph-captured): unchanged.
        assert_eq!(p.floored_kernels_s(20e-3, 94.0, 0.0, 0.0), 20e-3);
        // Above the floor: unchanged.
        assert_eq!(p.floored_kernels_s(200e-3, 94.0, 0.0, 94.0), 200e-3);
        let bad = EngineParams {
            moe_eager_layer_us: 6000.0,
            ..EngineParams::NEUTRAL
        };
        assert_eq!(
            bad.check(),
            Err(("moe-eager-layer-us", 6000.0, 0.0, 2000.0))
        );
    }

    #[test]
    fn new_parameters_are_optional_and_checked() {
        let old = r#"{"prefill-scale":1,"decode-scale":1,"step-overhead-ms":0,"per-seq-overhead-us":0,"frontend-ms":0}"#;
        let p: EngineParams = serde_json::from_str(old).unwrap();
        assert_eq!(p, EngineParams::NEUTRAL);
        // Zero and false are not written, so profiles without them stay as they were.
        assert_eq!(serde_json::to_string(&p).unwrap().matches(':').count(), 6);
        let bad = EngineParams {
            layer_floor_us: 500.0,
            ..EngineParams::NEUTRAL
        };
        assert_eq!(bad.check(), Err(("layer-floor-us", 500.0, 0.0, 200.0)));
        let bad = EngineParams {
            allreduce_latency_us: -1.0,
            ..EngineParams::NEUTRAL
        };
        assert_eq!(bad.check(), Err(("allreduce-latency-us", -1.0, 0.0, 100.0)));
    }

    #[test]
    fn find_prefers_the_version_then_falls_back() {
        let p = |v: Option<&str>, scale: f64| EngineProfile {
            engine: "vllm".into(),
            gpu: "h100".into(),
            version: v.map(str::to_owned),
            source: "t".into(),
            params: EngineParams {
                decode_scale: scale,
                ..EngineParams::NEUTRAL
            },
            fitted_rows: 8,
            checked: vec![],
            moe_checked: vec![],
            moe_fitted_rows: 0,
            mxfp4_fitted_rows: 0,
            mxfp4_checked: vec![],
            fp8_moe_fitted_rows: 0,
            fp8_moe_checked: vec![],
        };
        let file = EngineProfiles {
            profiles: vec![p(None, 1.0), p(Some("0.12.0"), 0.9)],
        };
        let at = |v| file.find("vllm", "h100", v).unwrap().params.decode_scale;
        assert_eq!(at(Some("0.12.0")), 0.9);
        assert_eq!(at(Some("0.11.0")), 1.0);
        assert_eq!(at(None), 1.0);
        assert_eq!(file.profiles[1].key(), "vllm/h100@0.12.0");
        assert!(file.find("sglang", "h100", None).is_none());
    }

    #[test]
    fn out_of_range_parameter_is_named() {
        let text = r#"{"profiles":[{"engine":"vllm","gpu":"h100","source":"t","params":
            {"prefill-scale":1,"decode-scale":9,"step-overhead-ms":0,"per-seq-overhead-us":0,"frontend-ms":0}}]}"#;
        let e = EngineProfiles::parse(text).unwrap_err().to_string();
        assert!(e.contains("profiles[0].params.decode-scale: 9"), "{e}");
        assert!(e.contains("[0.25, 4]"), "{e}");
        let bad = text.replace("\"vllm\"", "\"tgi\"");
        assert!(
            EngineProfiles::parse(&bad)
                .unwrap_err()
                .to_string()
                .contains("tgi")
        );
        let unknown = text.replace("\"frontend-ms\"", "\"frontend\"");
        let e = EngineProfiles::parse(&unknown).unwrap_err().to_string();
        assert!(e.contains("frontend"), "{e}");
    }
}
