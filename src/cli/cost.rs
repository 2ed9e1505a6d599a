//! `xpyd cost`: the predicted time of one engine step with its breakdown.

use anyhow::{Context, Result, bail};
use clap::Args;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;
use xpyd_models::{
    CostBreakdown, CostModel, CostSources, Dtype, Efficiencies, GpuSpec, ModelArch, StepShape,
};

#[derive(Debug, Args)]
pub(crate) struct CostArgs {
    /// Model: catalog id or path to a Hugging Face config.json.
    #[arg(long)]
    model: String,
    /// GPU catalog id.
    #[arg(long)]
    gpu: String,
    /// Tensor-parallel degree.
    #[arg(long, default_value_t = 1)]
    tp: u32,
    /// A prefill step of N new prompt tokens (one sequence).
    #[arg(long, value_name = "N", conflicts_with = "decode_batch")]
    prefill: Option<u64>,
    /// A decode step of B sequences.
    #[arg(long, value_name = "B")]
    decode_batch: Option<u32>,
    /// Context tokens: already in KV before the prefill chunk, or per decoding sequence.
    #[arg(long, value_name = "C")]
    context: Option<u64>,
    /// Weight format.
    #[arg(long, value_enum, default_value_t = DtypeArg::Bf16)]
    weights: DtypeArg,
    /// KV-cache format.
    #[arg(long, value_enum, default_value_t = DtypeArg::Bf16)]
    kv_cache: DtypeArg,
    /// Calibration profile to use instead of the GPU's shipped one.
    #[arg(long, value_name = "FILE", conflicts_with = "roofline")]
    profile: Option<PathBuf>,
    /// Ignore calibration profiles: every term from the roofline.
    #[arg(long)]
    roofline: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Which profile a command uses: `--profile FILE`, `--roofline`, or the GPU's shipped one
/// (the scenario's type, so that `xpyd cost` and `xpyd run` read the flags alike).
pub(crate) use xpyd_sim::scenario::ProfileChoice;

/// The JSON/text name of a step's overall source.
#[derive(Copy, Clone, Debug, clap::ValueEnum)]
pub(crate) enum DtypeArg {
    Bf16,
    Fp8,
}

impl From<DtypeArg> for Dtype {
    fn from(d: DtypeArg) -> Dtype {
        match d {
            DtypeArg::Bf16 => Dtype::Bf16,
            DtypeArg::Fp8 => Dtype::Fp8,
        }
    }
}

#[derive(Serialize)]
struct BreakdownMs {
    gemm: f64,
    attention_prefill: f64,
    attention_decode: f64,
    memory_bound: f64,
    allreduce: f64,
    lm_head: f64,
    overhead: f64,
}

impl From<CostBreakdown> for BreakdownMs {
    fn from(b: CostBreakdown) -> BreakdownMs {
        BreakdownMs {
            gemm: b.gemm_s * 1e3,
            attention_prefill: b.attention_prefill_s * 1e3,
            attention_decode: b.attention_decode_s * 1e3,
            memory_bound: b.memory_bound_s * 1e3,
            allreduce: b.allreduce_s * 1e3,
            lm_head: b.lm_head_s * 1e3,
            overhead: b.overhead_s * 1e3,
        }
    }
}

#[derive(Serialize)]
struct CostReport {
    ms: f64,
    source: &'static str,
    breakdown: BreakdownMs,
    /// Per term: `calibrated`, `extrapolated`, `roofline`, `partial`, `assumed` or `none`.
    sources: CostSources,
    /// The calibration profile in use (`builtin:h100`, a path), `null` for the roofline.
    profile: Option<String>,
    model: String,
    gpu: String,
    tp: u32,
    weights: &'static str,
    kv_cache: &'static str,
    shape: StepShape,
}

/// The step shape the flags describe.
pub(crate) fn shape(
    prefill: Option<u64>,
    decode_batch: Option<u32>,
    context: Option<u64>,
) -> Result<StepShape> {
    match (prefill, decode_batch) {
        (Some(n), None) => {
            if n == 0 {
                bail!("--prefill must be at least 1 token");
            }
            let c = context.unwrap_or(0);
            Ok(StepShape {
                prefill_tokens: n,
                prefill_seqs: 1,
                prefill_attn_pairs: n * c + n * (n + 1) / 2,
                ..StepShape::default()
            })
        }
        (None, Some(b)) => {
            let Some(c) = context else {
                bail!("--decode-batch needs --context (tokens per sequence)")
            };
            if b == 0 {
                bail!("--decode-batch must be at least 1");
            }
            Ok(StepShape {
                decode_seqs: b,
                decode_context_tokens: u64::from(b) * c,
                ..StepShape::default()
            })
        }
        _ => bail!("give either --prefill N [--context C] or --decode-batch B --context C"),
    }
}

pub(crate) fn run(args: CostArgs) -> Result<()> {
    let arch = ModelArch::resolve(&args.model)?;
    let gpu = GpuSpec::builtin(&args.gpu)?;
    if args.tp == 0 {
        bail!("--tp must be at least 1");
    }
    // The same TP validation the simulator applies.
    xpyd_models::MemoryPlan::new(
        &arch,
        &gpu,
        args.tp,
        args.weights.into(),
        args.kv_cache.into(),
        1.0,
        0.0,
    )
    .map(|_| ())
    .or_else(|e| match e {
        xpyd_models::FitError::TpHeads { .. } => Err(e),
        // A step's cost is defined even when the weights would not fit.
        xpyd_models::FitError::Weights { .. } => Ok(()),
    })?;
    let shape = shape(args.prefill, args.decode_batch, args.context)?;
    let choice = ProfileChoice::from_flags(args.profile.as_deref(), args.roofline)
        .context("loading the calibration profile")?;
    let cm = CostModel::new(
        arch.clone(),
        gpu.clone(),
        args.tp,
        args.weights.into(),
        args.kv_cache.into(),
        Efficiencies::default(),
    );
    let cm = choice.apply(cm);
    if let ProfileChoice::File(p, origin) = &choice
        && !p.header().gpu_id.eq_ignore_ascii_case(&gpu.id)
    {
        eprintln!(
            "note: {origin} was measured on `{}` ({}), used here for `{}`",
            p.header().gpu_id,
            p.header().gpu_name,
            gpu.id
        );
    }
    let cost = cm.step(&shape);
    let report = CostReport {
        ms: cost.seconds * 1e3,
        source: cost.source.name(),
        breakdown: cost.breakdown.into(),
        sources: cost.sources,
        profile: cm.profile_origin().map(str::to_string),
        model: arch.id.clone(),
        gpu: gpu.id.clone(),
        tp: args.tp,
        weights: Dtype::from(args.weights).name(),
        kv_cache: Dtype::from(args.kv_cache).name(),
        shape,
    };
    let mut out = String::new();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        let b = &report.breakdown;
        writeln!(
            out,
            "{} on {} x {} (TP {}), weights {}, KV {}: {:.3} ms per step ({})",
            report.model,
            args.tp,
            report.gpu,
            args.tp,
            report.weights,
            report.kv_cache,
            report.ms,
            report.source
        )?;
        match &report.profile {
            Some(p) => writeln!(out, "  profile: {p}")?,
            None => writeln!(out, "  profile: none (roofline)")?,
        }
        let src = report.sources;
        for (name, v, s) in [
            ("gemm", b.gemm, src.gemm),
            (
                "attention (prefill)",
                b.attention_prefill,
                src.attention_prefill,
            ),
            (
                "attention (decode)",
                b.attention_decode,
                src.attention_decode,
            ),
            ("memory-bound ops", b.memory_bound, src.memory_bound),
            ("TP all-reduce", b.allreduce, src.allreduce),
            ("lm_head + sampling", b.lm_head, src.lm_head),
            ("overhead", b.overhead, src.overhead),
        ] {
            writeln!(out, "  {name:<22}{v:>10.3} ms  {}", s.label())?;
        }
    }
    print_out(&out)
}

/// Write `text` to stdout; a closed pipe (`xpyd cost ... | head`) is not an error.
pub(crate) fn print_out(text: &str) -> Result<()> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.context("writing to stdout"),
    }
}
