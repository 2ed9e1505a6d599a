//! `xpyd plan`: search deployments for the highest SLO-meeting rate per GPU (or per
//! dollar), size the best for the target rate, confirm it by simulation, write the plan.
//!
//! Flags are turned into [`PlanSettings`] in [`settings`] before any work; the search
//! itself is `xpyd_sim::planner`. Outputs are written atomically.

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use xpyd_reports::manifests::EmitOptions;
use xpyd_reports::manifests::job::{self, PlanJobSpec};
use xpyd_reports::plan_files::{self, PlanWriteOptions};
use xpyd_reports::run_report::ReportOptions;
use xpyd_reports::staging::Staging;
use xpyd_reports::{plan_report, shard_file};
use xpyd_sim::interval::Residuals;
use xpyd_sim::planner::candidates::{MoeSplits, SearchSpace};
use xpyd_sim::planner::confidence::ConfidenceSettings;
use xpyd_sim::planner::shard::Shard;
use xpyd_sim::planner::{self, PlanSettings, Progress};
use xpyd_sim::scenario::{self, Backend, LoadedFile, Mode, Overrides, RouterKind, Scenario};

use super::interrupt::{self, Pending};
use super::manifest::RbgApiArg;

#[derive(Debug, Default, Args)]
pub(crate) struct PlanArgs {
    /// Scenario file (TOML) giving the model, workload, SLOs and links. Without one, the
    /// built-in default scenario is planned.
    scenario: Option<PathBuf>,
    /// Most GPUs one deployment unit may use [default: a node of the scenario's GPU, or
    /// the scenario's deployment if larger].
    #[arg(long, value_name = "N",
          value_parser = super::gpus_max)]
    gpus_max: Option<u32>,
    /// Rate to size the deployment for, requests/s [default: the workload's rate].
    #[arg(long, value_name = "RPS", value_parser = super::rate_rps)]
    target_rate: Option<f64>,
    /// GPU types to search (catalog ids, comma-separated) [default: the scenario's].
    #[arg(long, value_name = "G[,G...]", value_delimiter = ',')]
    gpu: Vec<String>,
    /// Price of one GPU-hour, `G=USD` (repeatable). With a price for every GPU searched,
    /// candidates are ranked per dollar. The scenario's `hardware.gpu-hour-usd` prices
    /// its own GPU.
    #[arg(long = "gpu-price", value_name = "G=USD")]
    gpu_price: Vec<String>,
    /// Serving stack [default: the scenario's].
    #[arg(long, value_parser = ["sglang", "vllm", "dynamo", "trtllm"])]
    backend: Option<String>,
    /// Output folder [default: xpyd-plan].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Worker threads [default: one per core]. The plan is the same at any value.
    #[arg(long, value_name = "N", value_parser = super::jobs)]
    jobs: Option<usize>,
    /// Master seed of every random stream (overrides `seed`).
    #[arg(long, value_parser = super::seed)]
    seed: Option<u64>,
    /// Requests simulated per probe of the rate search, per instance of the unit (a unit
    /// of 4 instances is probed with 4 times as many, over the same simulated time).
    #[arg(long, value_name = "N", default_value_t = 300, value_parser = super::requests)]
    probe_requests: u64,
    /// Relative precision of the rate search.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.03)]
    precision: f64,
    /// Modes to search (comma-separated).
    #[arg(long, value_name = "MODE[,MODE]", value_delimiter = ',',
          value_parser = ["disaggregated", "aggregated"])]
    mode: Vec<String>,
    /// TP degrees to try per role (comma-separated) [default: 1,2,4,8].
    #[arg(long, value_name = "T[,T...]", value_delimiter = ',',
          value_parser = super::tp)]
    tp: Vec<u32>,
    /// Token budgets per step to try (comma-separated) [default: 2048,4096,8192].
    #[arg(long, value_name = "N[,N...]", value_delimiter = ',', value_parser = super::tokens)]
    token_budgets: Vec<u32>,
    /// Max running sequences to try (comma-separated) [default: 128,1024].
    #[arg(long, value_name = "N[,N...]", value_delimiter = ',',
          value_parser = super::max_num_seqs)]
    max_num_seqs: Vec<u32>,
    /// Parallelism each role's TP degree is tried with: `auto` also tries DP-attention and
    /// expert-parallel splits (dp, ep) = (1, 1), (1, TP), (TP, TP) and the scenario's own
    /// for a mixture-of-experts model (TP only for a dense one); `tp-only` keeps the
    /// scenario's dp and ep [default: auto].
    #[arg(long, value_name = "MODE", value_parser = ["auto", "tp-only"])]
    moe_splits: Option<String>,
    /// Routers to try where a role has several replicas (comma-separated) [default: all].
    #[arg(long, value_name = "R[,R...]", value_delimiter = ',',
          value_parser = ["round-robin", "random", "least-outstanding", "power-of-two"])]
    router: Vec<String>,
    /// Simulate every candidate (no pruning by the roofline bound or the role screen).
    #[arg(long)]
    no_prune: bool,
    /// Units of more than N GPUs are pruned by an estimate from their roles' measured
    /// per-instance capacities (one rate search per role configuration) instead of by
    /// the roofline bound alone: an approximation, measured in docs/performance.md; `off`:
    /// the roofline bound only [default: 8].
    #[arg(long, value_name = "N|off", value_parser = screen_above)]
    screen_above_gpus: Option<ScreenAbove>,
    /// Rows of the ranking printed.
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,
    /// RoleBasedGroup API version of the recommendation's manifests (DIR/manifests/; for
    /// images, PVC, namespace: `xpyd manifest DIR/recommended.toml`).
    #[arg(long, value_enum, default_value_t)]
    rbg_api: RbgApiArg,
    /// Set any scenario field: a dotted TOML path and a TOML value (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Evaluate only slice I of N of the candidates (I counts from 0) and write
    /// OUT/shard-I-of-N.json, for `--merge`.
    #[arg(long, value_name = "I/N", conflicts_with_all = ["merge", "emit_job"])]
    shard: Option<Shard>,
    /// Make the plan from shard files (files, or folders holding shard-I-of-N.json) made
    /// with the same scenario and flags: exactly the plan one run makes.
    #[arg(long, value_name = "PATH", num_args = 1.., conflicts_with = "emit_job")]
    merge: Vec<PathBuf>,
    /// Write a Kubernetes Indexed Job that runs this plan in shards, and the ConfigMap
    /// holding its scenario, to DIR (nothing is simulated).
    #[arg(long, value_name = "DIR")]
    emit_job: Option<PathBuf>,
    /// Shards (pods) of the `--emit-job` Job.
    #[arg(long, value_name = "N", default_value_t = 4)]
    job_shards: u32,
    /// CPUs per pod of the `--emit-job` Job (its `--jobs`).
    #[arg(long, value_name = "N", default_value_t = 4)]
    job_cpus: u32,
    /// PersistentVolumeClaim the `--emit-job` pods write their shards to.
    #[arg(long, value_name = "NAME", default_value = "xpyd-plan")]
    job_pvc: String,
    /// Name of the `--emit-job` Job (its ConfigMap is NAME-scenario; shards go to
    /// /out/NAME on the claim).
    #[arg(long, value_name = "NAME", default_value = "xpyd-plan")]
    job_name: String,
    /// Namespace of the `--emit-job` objects.
    #[arg(long, value_name = "NS", default_value = "default")]
    job_namespace: String,
    /// xpyd image of the `--emit-job` pods.
    #[arg(long, value_name = "IMAGE", default_value = JOB_IMAGE)]
    job_image: String,
    /// Skip the charts and report.html.
    #[arg(long)]
    no_report: bool,
    /// Memory the search may need, GiB: a search whose estimate (candidates, concurrent
    /// probes, the confirming run; see the README) exceeds it is refused before it
    /// starts.
    #[arg(long, value_name = "GIB", default_value_t = planner::DEFAULT_MEMORY_BUDGET_GIB)]
    memory_budget_gib: f64,
    /// Probabilities of meeting every SLO (seed replications + the engine model's measured
    /// error) per candidate and for the recommendation: on or off [default: on].
    #[arg(long, value_name = "on|off", value_parser = super::run::parse_on_off)]
    intervals: Option<bool>,
    /// Size the deployment to this probability of meeting every SLO, in [0.5, 0.999],
    /// instead of the point estimate (recommendation.json's `confidence` says what the
    /// extra replicas buy).
    #[arg(long, value_name = "P", value_parser = confidence)]
    confidence: Option<f64>,
    /// Seed replications per probability, the run itself included, 1 to 200 [default: 4].
    #[arg(long, value_name = "N", value_parser = super::run::replications)]
    replications: Option<u32>,
    /// The engine model's residual quantiles (as `xpyd validate --serving
    /// --write-residuals FILE` writes them) [default: the shipped ones].
    #[arg(long, value_name = "FILE", conflicts_with = "emit_job")]
    residuals: Option<PathBuf>,
    /// Rerun the search with each engine-layer parameter at the ends of its interval and
    /// report whether the recommendation changes (OUT/sensitivity.json).
    #[arg(long, conflicts_with_all = ["shard", "merge", "emit_job"])]
    sensitivity: bool,
}

/// `--screen-above-gpus`: a GPU count, or `off` (`None`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct ScreenAbove(Option<u32>);

/// `--screen-above-gpus N|off`: a number of GPUs (0 screens every unit) or `off`.
fn screen_above(s: &str) -> Result<ScreenAbove, String> {
    match s.trim() {
        "off" => Ok(ScreenAbove(None)),
        t => t
            .parse::<u32>()
            .map(|n| ScreenAbove(Some(n)))
            .map_err(|_| format!("must be a number of GPUs (0 to {}) or `off`", u32::MAX)),
    }
}

/// `--confidence P`: a probability in [0.5, 0.999].
fn confidence(s: &str) -> Result<f64, String> {
    let (lo, hi) = xpyd_sim::planner::confidence::CONFIDENCE_RANGE;
    match s.trim().parse::<f64>() {
        Ok(p) if p.is_finite() && (lo..=hi).contains(&p) => Ok(p),
        _ => Err(format!("must be a probability in [{lo}, {hi}], e.g. 0.9")),
    }
}

/// Default image of `--emit-job` pods: this version's release image.
const JOB_IMAGE: &str = concat!("ghcr.io/xpyd/xpyd:", env!("CARGO_PKG_VERSION"));

/// Turn the flags into plan settings. This is the only place flags change scenario
/// values.
pub(crate) fn settings(args: &PlanArgs) -> Result<PlanSettings> {
    let ov = Overrides {
        sets: args.set.clone(),
        seed: args.seed,
        backend: args.backend.as_deref().and_then(Backend::from_name),
        ..Overrides::default()
    };
    let LoadedFile {
        file,
        base_dir,
        wire: base,
    } = scenario::load_file(args.scenario.as_deref(), &ov)?;
    if args.emit_job.is_some() {
        // Refuse links and paths outside the scenario's folder before validation reads
        // any of the files.
        job::check_files(args.scenario.as_deref(), &base, &base_dir).context("--emit-job")?;
    }
    // Validate the base before searching: its errors name the user's file.
    let sc = Scenario::from_file(&file, &base_dir, base.clone())?;

    let gpus = if args.gpu.is_empty() {
        // The scenario's GPU types: [hardware]'s, then a role's own (heterogeneous PD).
        let mut g = vec![base.hardware.gpu.clone()];
        g.extend(sc.gpu_ids().into_iter().skip(1));
        g
    } else {
        let mut g: Vec<String> = Vec::new();
        for x in &args.gpu {
            let x = x.trim().to_string();
            if x.is_empty() {
                bail!("--gpu: empty GPU id");
            }
            if !g.contains(&x) {
                g.push(x);
            }
        }
        g
    };
    let mut gpu_prices = Vec::new();
    for p in &args.gpu_price {
        let Some((g, usd)) = p.split_once('=') else {
            bail!("--gpu-price {p}: expected G=USD, e.g. h100=2.5");
        };
        let usd: f64 = usd
            .trim()
            .parse()
            .with_context(|| format!("--gpu-price {p}: {usd} is not a number"))?;
        if !(usd.is_finite() && usd > 0.0) {
            bail!("--gpu-price {p}: the price must be a positive number of USD per GPU-hour");
        }
        gpu_prices.push((g.trim().to_string(), usd));
    }
    let gpus_max = match args.gpus_max {
        Some(0) => bail!("--gpus-max must be at least 1"),
        Some(n) => n,
        None => SearchSpace::default_gpus_max(&sc).min(planner::MAX_GPUS_MAX),
    };
    let moe_splits = match args.moe_splits.as_deref() {
        None => MoeSplits::Auto,
        Some(m) => MoeSplits::from_name(m).with_context(|| {
            format!(
                "--moe-splits {m}: expected one of {}",
                MoeSplits::NAMES.join(", ")
            )
        })?,
    };
    let mut space = SearchSpace::default_for(gpus, gpus_max).with_moe_splits(moe_splits, &sc.model);
    if !args.mode.is_empty() {
        space.modes = args
            .mode
            .iter()
            .map(|m| match m.as_str() {
                "aggregated" => Mode::Aggregated,
                _ => Mode::Disaggregated,
            })
            .collect();
        space.modes.dedup();
    }
    if !args.tp.is_empty() {
        if args.tp.contains(&0) {
            bail!("--tp: TP degrees must be at least 1");
        }
        space.tps = args.tp.clone();
    }
    if !args.token_budgets.is_empty() {
        if args.token_budgets.contains(&0) {
            bail!("--token-budgets: budgets must be at least 1 token");
        }
        space.token_budgets = args.token_budgets.clone();
    }
    if !args.max_num_seqs.is_empty() {
        if args.max_num_seqs.contains(&0) {
            bail!("--max-num-seqs: values must be at least 1");
        }
        space.max_num_seqs = args.max_num_seqs.clone();
    }
    if !args.router.is_empty() {
        space.routers = args
            .router
            .iter()
            .map(|r| match r.as_str() {
                "random" => RouterKind::Random,
                "least-outstanding" => RouterKind::LeastOutstanding,
                "power-of-two" => RouterKind::PowerOfTwo,
                _ => RouterKind::RoundRobin,
            })
            .collect();
    }
    if let Some(ScreenAbove(v)) = args.screen_above_gpus {
        space.screen_above_gpus = v;
    }
    if let Some(r) = args.target_rate
        && !(r.is_finite() && r > 0.0)
    {
        bail!("--target-rate must be a positive number of requests/s, got {r}");
    }
    if !(args.precision.is_finite() && args.precision > 0.0 && args.precision < 1.0) {
        bail!("--precision must be in (0, 1), got {}", args.precision);
    }
    if args.probe_requests == 0 {
        bail!("--probe-requests must be at least 1");
    }
    let confidence = if args.intervals == Some(false) {
        for (set, flag) in [
            (args.confidence.is_some(), "--confidence"),
            (args.replications.is_some(), "--replications"),
            (args.residuals.is_some(), "--residuals"),
        ] {
            if set {
                bail!("{flag}: needs the probabilities, which --intervals off turns off");
            }
        }
        None
    } else {
        Some(ConfidenceSettings {
            replications: args
                .replications
                .unwrap_or(xpyd_sim::interval::DEFAULT_REPLICATIONS),
            residuals: match &args.residuals {
                Some(p) => Residuals::read(p).context("--residuals")?,
                None => Residuals::builtin(),
            },
            level: args.confidence,
        })
    };
    Ok(PlanSettings {
        base,
        file,
        base_dir,
        space,
        gpu_prices,
        target_rate_rps: args.target_rate,
        probe_requests: args.probe_requests,
        precision: args.precision,
        jobs: args.jobs.unwrap_or(0),
        prune: !args.no_prune,
        memory_budget_gib: args.memory_budget_gib,
        confidence,
        engine_shift: None,
    })
}

pub(crate) fn run(args: PlanArgs) -> Result<()> {
    let settings = settings(&args)?;
    if let Some(dir) = &args.emit_job {
        return emit_job(&args, &settings, dir);
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("xpyd-plan"));

    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {msg} [{bar:30}] {pos}/{len} candidates, {elapsed_precise} (eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message("searching");
    let progress = |p: Progress| match p {
        Progress::Start { total } => bar.set_length(total as u64),
        Progress::Candidate => bar.inc(1),
        Progress::Confirming => bar.set_message("confirming"),
    };
    if let Some(shard) = args.shard {
        // Shards of one plan share a folder: each file is written in place, atomically, and
        // a signal removes the partial ones.
        let _cleanup = interrupt::remove_on_signal(Pending::Partials(out.clone()));
        let f = planner::shard::evaluate_shard(&settings, shard, &progress);
        bar.finish_and_clear();
        let f = f?;
        let path = shard_file::write(&out, &f)?;
        println!(
            "wrote {}: shard {shard}, {} of {} candidates",
            path.display(),
            f.evaluations.len(),
            f.candidates
        );
        return Ok(());
    }
    let plan = if args.merge.is_empty() {
        planner::plan(&settings, &progress).map_err(anyhow::Error::from)
    } else {
        shard_file::read_all(&args.merge)
            .map_err(anyhow::Error::from)
            .and_then(|files| {
                planner::shard::merge(&settings, &files, &progress).map_err(anyhow::Error::from)
            })
    };
    bar.finish_and_clear();
    let plan = plan?;

    let opts = PlanWriteOptions {
        emit: EmitOptions {
            rbg_api: args.rbg_api.into(),
            target: xpyd_reports::manifests::Target::Rbg,
        },
    };
    // Written into a staging folder (tables, recommendation, manifests, report), put in
    // place whole once complete.
    let staging = Staging::begin(&out)?;
    let _cleanup = interrupt::remove_on_signal(Pending::Dir(staging.path().to_path_buf()));
    let mut written = plan_files::write_staged(staging.path(), &out, &plan, opts)?;
    let sensitivity = if args.sensitivity {
        let bar = if std::io::stderr().is_terminal() {
            ProgressBar::new(0)
        } else {
            ProgressBar::hidden()
        };
        bar.set_message("sensitivity");
        let s = planner::sensitivity::sensitivity(&settings, &plan, &|done, total| {
            bar.set_length(u64::from(total));
            bar.set_position(u64::from(done));
        });
        bar.finish_and_clear();
        let s = s?;
        written.push(plan_files::write_sensitivity(staging.path(), &s)?);
        Some(s)
    } else {
        None
    };
    if !args.no_report {
        plan_report::finish(staging.path(), ReportOptions::default())
            .with_context(|| format!("{}: writing the plan report", out.display()))?;
    }
    interrupt::locked(|| staging.commit())?;
    print!("{}", plan_files::summary_text(&plan, args.top));
    if let Some(s) = &sensitivity {
        print!("{}", plan_files::sensitivity_text(s));
    }
    println!("\nwrote {}/{}", out.display(), written.join(", "));
    if let Some(rec) = &plan.recommendation {
        println!(
            "replay: xpyd run {}",
            job::shell_quote(&out.join("recommended.toml").display().to_string())
        );
        if !rec.confirm.met {
            eprintln!(
                "warning: the sized deployment ({} GPUs) missed the SLOs in its confirming run; see recommendation.json",
                rec.gpus
            );
        }
    }
    if !args.no_report {
        println!("report: {}", out.join("report.html").display());
    }
    Ok(())
}

/// The `xpyd plan` flags that make `settings`' search, for the Job's pods: every flag
/// of `args` that changes the plan, none that only changes where or how it is written.
/// A flat mapping back to the command line; which of them change the plan is the
/// shard fingerprint's choice of [`PlanSettings`] fields
/// (`xpyd_sim::planner::shard::fingerprint`), and the tests below hold the two lists
/// together.
fn search_flags(args: &PlanArgs) -> Vec<String> {
    let PlanArgs {
        scenario: _,
        gpus_max,
        target_rate,
        gpu,
        gpu_price,
        backend,
        out: _,
        jobs: _,
        seed,
        probe_requests,
        precision,
        mode,
        tp,
        token_budgets,
        max_num_seqs,
        moe_splits,
        router,
        no_prune,
        screen_above_gpus,
        top: _,
        rbg_api: _,
        set,
        shard: _,
        merge: _,
        emit_job: _,
        job_shards: _,
        job_cpus: _,
        job_pvc: _,
        job_name: _,
        job_namespace: _,
        job_image: _,
        no_report: _,
        memory_budget_gib: _,
        intervals,
        confidence,
        replications,
        // Refused with --emit-job: the pods would not have the file.
        residuals: _,
        sensitivity: _,
    } = args;
    let mut out: Vec<String> = Vec::new();
    let mut flag = |name: &str, value: String| {
        out.push(format!("--{name}"));
        out.push(value);
    };
    let list = |v: &[String]| v.join(",");
    let nums = |v: &[u32]| v.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    if let Some(n) = gpus_max {
        flag("gpus-max", n.to_string());
    }
    if let Some(r) = target_rate {
        flag("target-rate", r.to_string());
    }
    if !gpu.is_empty() {
        flag("gpu", list(gpu));
    }
    for p in gpu_price {
        flag("gpu-price", p.clone());
    }
    if let Some(b) = backend {
        flag("backend", b.clone());
    }
    if let Some(s) = seed {
        flag("seed", s.to_string());
    }
    if let Some(ScreenAbove(v)) = screen_above_gpus {
        flag(
            "screen-above-gpus",
            v.map_or_else(|| "off".to_string(), |n| n.to_string()),
        );
    }
    flag("probe-requests", probe_requests.to_string());
    flag("precision", precision.to_string());
    if !mode.is_empty() {
        flag("mode", list(mode));
    }
    if !tp.is_empty() {
        flag("tp", nums(tp));
    }
    if !token_budgets.is_empty() {
        flag("token-budgets", nums(token_budgets));
    }
    if !max_num_seqs.is_empty() {
        flag("max-num-seqs", nums(max_num_seqs));
    }
    if let Some(m) = moe_splits {
        flag("moe-splits", m.clone());
    }
    if !router.is_empty() {
        flag("router", list(router));
    }
    for s in set {
        flag("set", s.clone());
    }
    if let Some(on) = intervals {
        flag("intervals", if *on { "on" } else { "off" }.into());
    }
    if let Some(p) = confidence {
        flag("confidence", p.to_string());
    }
    if let Some(n) = replications {
        flag("replications", n.to_string());
    }
    if *no_prune {
        out.push("--no-prune".into());
    }
    out
}

/// `--emit-job DIR`: write the ConfigMap and the Indexed Job of this plan's shards, and
/// print how to run them and merge the shards.
fn emit_job(args: &PlanArgs, settings: &PlanSettings, dir: &Path) -> Result<()> {
    let (scenario, files) =
        job::scenario_files(args.scenario.as_deref(), &settings.base, &settings.base_dir)
            .context("--emit-job")?;
    let spec = PlanJobSpec {
        name: args.job_name.clone(),
        namespace: args.job_namespace.clone(),
        image: args.job_image.clone(),
        shards: args.job_shards,
        cpus: args.job_cpus,
        pvc: args.job_pvc.clone(),
        scenario: Some(scenario),
        files,
        plan_args: search_flags(args),
    };
    let _cleanup = interrupt::remove_on_signal(Pending::Partials(dir.to_path_buf()));
    let names = job::write_plan_job(dir, &spec).context("--emit-job")?;
    println!("wrote {}/{}", dir.display(), names.join(", "));
    println!(
        "run:   kubectl apply -f {}  ({} pods write {}/shard-I-of-{}.json on claim {})",
        job::shell_quote(&format!("{}/", dir.display())),
        spec.shards,
        spec.out_dir(),
        spec.shards,
        spec.pvc
    );
    let scenario_arg = args.scenario.as_ref().map(|p| p.display().to_string());
    println!(
        "merge: copy the shard files off the claim into SHARDS_DIR, then\n       {}",
        job::merge_command(scenario_arg.as_deref(), &spec.plan_args)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use xpyd_sim::planner::shard::fingerprint;

    fn parse(flags: &[&str]) -> PlanArgs {
        #[derive(clap::Parser)]
        struct Wrap {
            #[command(flatten)]
            plan: PlanArgs,
        }
        let argv = std::iter::once("plan").chain(flags.iter().copied());
        <Wrap as clap::Parser>::try_parse_from(argv).unwrap().plan
    }

    fn print(args: &PlanArgs) -> String {
        fingerprint(&settings(args).unwrap())
    }

    /// Every flag `search_flags` repeats changes the shard fingerprint and comes back
    /// through it unchanged; every flag it leaves out does not change the fingerprint.
    #[test]
    fn search_flags_are_the_flags_the_fingerprint_depends_on() {
        let base = parse(&[]);
        let base_print = print(&base);
        let search: &[&[&str]] = &[
            &["--gpus-max", "4"],
            &["--target-rate", "3.5"],
            &["--gpu", "h100,a100"],
            &["--gpu-price", "l20=1.5"],
            &["--backend", "vllm"],
            &["--seed", "7"],
            &["--probe-requests", "100"],
            &["--precision", "0.05"],
            &["--mode", "aggregated"],
            &["--tp", "1,2"],
            &["--token-budgets", "4096"],
            &["--max-num-seqs", "64"],
            &["--router", "random"],
            &["--set", "workload.requests=500"],
            &["--no-prune"],
            &["--screen-above-gpus", "4"],
            &["--screen-above-gpus", "off"],
            &["--intervals", "off"],
            &["--confidence", "0.9"],
            &["--replications", "2"],
        ];
        for flags in search {
            let args = parse(flags);
            let p = print(&args);
            assert_ne!(p, base_print, "{flags:?} does not change the fingerprint");
            let again: Vec<String> = search_flags(&args);
            let again: Vec<&str> = again.iter().map(String::as_str).collect();
            assert_eq!(print(&parse(&again)), p, "{flags:?} does not round-trip");
        }
        let not_search: &[&[&str]] = &[
            &["--out", "elsewhere"],
            &["--jobs", "3"],
            &["--top", "5"],
            &["--rbg-api", "v1alpha1"],
            &["--job-shards", "2"],
            &["--job-cpus", "2"],
            &["--job-pvc", "p"],
            &["--job-name", "n"],
            &["--job-namespace", "ns"],
            &["--job-image", "i"],
            &["--no-report"],
            &["--memory-budget-gib", "16"],
            &["--sensitivity"],
        ];
        for flags in not_search {
            let args = parse(flags);
            assert_eq!(
                print(&args),
                base_print,
                "{flags:?} changes the fingerprint"
            );
            assert_eq!(search_flags(&args), search_flags(&base), "{flags:?}");
        }
    }

    /// `--moe-splits` changes a MoE plan's fingerprint and is forwarded to the Job's pods;
    /// on a dense model it changes nothing (the split search is off either way).
    #[test]
    fn moe_splits_is_a_search_flag() {
        let oss = "scenarios/gpt-oss-120b-pd-h200.toml";
        let auto = parse(&[oss]);
        let tp = parse(&[oss, "--moe-splits", "tp-only"]);
        assert_ne!(print(&auto), print(&tp));
        assert_eq!(print(&parse(&[oss, "--moe-splits", "auto"])), print(&auto));
        let again: Vec<String> = search_flags(&tp);
        assert!(again.windows(2).any(|w| w == ["--moe-splits", "tp-only"]));
        let mut argv = vec![oss];
        argv.extend(again.iter().map(String::as_str));
        assert_eq!(print(&parse(&argv)), print(&tp));
        assert_eq!(
            print(&parse(&["--moe-splits", "tp-only"])),
            print(&parse(&[]))
        );
    }
}
