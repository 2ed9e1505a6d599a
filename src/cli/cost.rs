//! `xpyd cost`: the predicted time of one engine step with its breakdown. The flags
//! become a [`StepShape`] and a [`CostModel`]; the report is
//! [`xpyd_models::cost::StepReport`]'s.

use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::PathBuf;
use xpyd_models::cost::StepReport;
use xpyd_models::{CostModel, Dtype, Efficiencies, GpuSpec, ModelArch, Parallelism, StepShape};

#[derive(Debug, Args)]
pub(crate) struct CostArgs {
    /// Model: catalog id or path to a Hugging Face config.json.
    #[arg(long)]
    model: String,
    /// GPU catalog id.
    #[arg(long)]
    gpu: String,
    /// Tensor-parallel degree: the instance's GPUs.
    #[arg(long, default_value_t = 1)]
    tp: u32,
    /// Attention data-parallel ranks (DP-attention, dividing --tp; MoE models): the step
    /// is the instance's, each rank running its share.
    #[arg(long, default_value_t = 1)]
    dp: u32,
    /// Expert-parallel ranks (dividing --tp and the routed experts; MoE models).
    #[arg(long, default_value_t = 1)]
    ep: u32,
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
    /// Price the step with this engine's built-in engine layer on the GPU (fitted
    /// overheads and kernel scales); default: kernels with the assumed overheads.
    #[arg(long, value_name = "ENGINE", value_parser = xpyd_models::engine::ENGINES)]
    engine: Option<String>,
    /// MLA decode attention (DeepSeek-V3/R1): `roofline` (the default: the engines run
    /// FlashMLA-class kernels, which the roofline matches better than our own kernel) or
    /// `measured` (the profile's rows of our NVRTC absorbed-MLA kernel).
    #[arg(long, value_enum, default_value_t = MlaDecodeArg::Roofline)]
    mla_decode: MlaDecodeArg,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// How MLA decode attention is priced (`--mla-decode`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum MlaDecodeArg {
    Roofline,
    Measured,
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
            Ok(StepShape::prefill_chunk(n, context.unwrap_or(0)))
        }
        (None, Some(b)) => {
            let Some(c) = context else {
                bail!("--decode-batch needs --context (tokens per sequence)")
            };
            if b == 0 {
                bail!("--decode-batch must be at least 1");
            }
            Ok(StepShape::decode_batch(b, c))
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
    // The same split validation the simulator applies (a step's cost is defined even
    // when the weights would not fit).
    let par = Parallelism {
        gpus: args.tp,
        dp: args.dp,
        ep: args.ep,
    };
    par.check(&arch)?;
    let shape = shape(args.prefill, args.decode_batch, args.context)?;
    let choice = ProfileChoice::from_flags(args.profile.as_deref(), args.roofline)
        .context("loading the calibration profile")?;
    let cm = choice.apply(CostModel::new(
        arch,
        gpu,
        par,
        args.weights.into(),
        args.kv_cache.into(),
        Efficiencies::default(),
    ));
    if let ProfileChoice::File(p, origin) = &choice
        && !p.header().gpu_id.eq_ignore_ascii_case(&cm.gpu().id)
    {
        eprintln!(
            "note: {origin} was measured on `{}` ({}), used here for `{}`",
            p.header().gpu_id,
            p.header().gpu_name,
            cm.gpu().id
        );
    }
    let cm = cm.with_mla_decode_measured(args.mla_decode == MlaDecodeArg::Measured);
    let cm = match &args.engine {
        None => cm,
        Some(e) => {
            let p = xpyd_models::EngineProfile::builtin(e, &cm.gpu().id).with_context(|| {
                format!(
                    "--engine {e}: no built-in {e} engine profile for {}",
                    cm.gpu().id
                )
            })?;
            let kernel = xpyd_models::MoeKernel::of_deployment(
                e,
                cm.weights() == xpyd_models::Dtype::Fp8,
                cm.parallelism().attention_tp(),
            );
            cm.with_engine(Some(p.params.clone()))
                .with_moe_kernel(kernel)
        }
    };
    let report = StepReport::new(&cm, shape);
    if args.json {
        print_out(&format!("{}\n", serde_json::to_string_pretty(&report)?))
    } else {
        print_out(&report.to_text())
    }
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
