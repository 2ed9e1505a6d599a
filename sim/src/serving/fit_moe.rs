//! The second stage of `xpyd calibrate fit-engine`: one term of the engine layer fitted
//! on mixture-of-experts runs with every other parameter of the profile held
//! ([`MoeTerm`]): the MoE layers' eager floor (`moe-eager-layer-us`,
//! [`xpyd_models::EngineParams::moe_eager_layer_us`]) or the engines' MXFP4 expert speed
//! (`mxfp4-compute-scale` and `mxfp4-memory-scale`,
//! [`xpyd_models::EngineParams::mxfp4_compute_scale`]).
//!
//! Why a stage of its own: the engine layer is fitted on dense models ([`super::fit`]),
//! which cannot see either term. Engines that capture CUDA graphs of decode-only batches
//! (TensorRT-LLM's PyTorch backend: `DecodeCudaGraphConfig`, "CUDA graph configuration
//! for decode requests"; SGLang without piecewise graphs) launch every kernel of a step
//! with prompt tokens from the CPU, and an MoE layer launches many more than a dense
//! one: on the TensorRT-LLM H100 Qwen3-235B runs the time to first token stays near
//! 170-250 ms at 128-512-token prompts and 4-16 clients, where the kernels of the prompt
//! step take 20-30 ms. And MXFP4 experts (gpt-oss) run on Hopper through the engines' own
//! upcasting Triton kernels, which no kernel measured on the GPU machine matches yet
//! (calibrate/measurements/moe_mxfp4_h200: ours reads the weights at a tenth of HBM),
//! so they are priced by the roofline's compute and weight-reading times each times a
//! fitted factor.
//!
//! Each run of the term's models is grouped by the profile it replays with (its engine,
//! GPU and version; the version-less profile when its version has none), the term is
//! searched in [`xpyd_models::engine::RANGES`] (per parameter, a deterministic scan of
//! its range, then a descent from its best point, on the loss of [`super::fit`]; two
//! rounds over the parameters when there are two), and checked k-fold:
//! each fold's runs replayed with the term fitted on the other folds. Groups with fewer
//! than [`super::fit::MIN_ROWS`] replayable runs keep their profile unchanged (said in
//! `skipped`), as do engines the term does not apply to; a fit at a bound of the term's
//! range is reported and not written (the term would be absorbing another error), nor
//! is one that does not lower the loss on its runs (the FP8 terms replace the profile's
//! expert tables: there the tables may be the better answer).

use super::fit::{GroupFit, MIN_ROWS, errors_by_mode, is_moe, k_fold_rows, loss, replay_with};
use super::replay::{has_fp8_experts, layer_key};
use super::{FitOptions, MeasuredRun};
use crate::scenario::{LoadedFile, ScenarioError};
use std::collections::BTreeMap;
use xpyd_models::ExpertWeights;
use xpyd_models::engine::{EngineParams, EngineProfile, EngineProfiles};

/// What `fit-engine` fits on MoE runs with the rest of the profile held.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum MoeTerm {
    /// `moe-eager-layer-us`, on every MoE model's runs of the engines in
    /// [`xpyd_models::engine::EAGER_PROMPT_ENGINES`].
    EagerFloor,
    /// `mxfp4-compute-scale` and `mxfp4-memory-scale`, on the runs of models with MXFP4
    /// experts, every engine.
    Mxfp4Experts,
    /// `fp8-moe-memory-scale` and `fp8-moe-layer-us` (with
    /// `fp8-moe-roofline` set), on the runs with FP8 routed experts, every engine.
    Fp8Experts,
}

/// One parameter a [`MoeTerm`] fits.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Param {
    EagerFloor,
    Mxfp4Compute,
    Mxfp4Memory,
    Mxfp4Layer,
    Fp8Memory,
    Fp8Layer,
}

/// Rounds of the coordinate search over a term's parameters (one suffices for one).
const ROUNDS: usize = 2;

impl Param {
    /// The parameter's name in profiles and [`xpyd_models::engine::RANGES`].
    fn name(self) -> &'static str {
        match self {
            Param::EagerFloor => "moe-eager-layer-us",
            Param::Mxfp4Compute => "mxfp4-compute-scale",
            Param::Mxfp4Memory => "mxfp4-memory-scale",
            Param::Mxfp4Layer => "mxfp4-layer-us",
            Param::Fp8Memory => "fp8-moe-memory-scale",
            Param::Fp8Layer => "fp8-moe-layer-us",
        }
    }

    /// The search's grid over the range, its last refining step, and the resolution the
    /// value is rounded to. The eager floor changes nothing until it exceeds the kernels
    /// (the loss is flat near 0, so a descent from there would stop): a scan first.
    fn steps(self) -> (f64, f64, f64) {
        match self {
            Param::EagerFloor => (100.0, 5.0, 1.0),
            Param::Mxfp4Compute | Param::Mxfp4Memory | Param::Fp8Memory => (0.25, 0.01, 0.01),
            Param::Mxfp4Layer | Param::Fp8Layer => (25.0, 1.0, 1.0),
        }
    }

    fn get(self, p: &EngineParams) -> f64 {
        match self {
            Param::EagerFloor => p.moe_eager_layer_us,
            Param::Mxfp4Compute => p.mxfp4_compute_scale,
            Param::Mxfp4Memory => p.mxfp4_memory_scale,
            Param::Mxfp4Layer => p.mxfp4_layer_us,
            Param::Fp8Memory => p.fp8_moe_memory_scale,
            Param::Fp8Layer => p.fp8_moe_layer_us,
        }
    }

    /// `p` with the parameter at `v` (clamped to its range, rounded to its resolution).
    fn with(self, p: &EngineParams, v: f64) -> EngineParams {
        let (lo, hi) = self.range();
        let res = self.steps().2;
        // Divided by the steps per unit (not times `res`) so 0.69 reads 0.69.
        let per_unit = (1.0 / res).round();
        let v = ((v.clamp(lo, hi) * per_unit).round() / per_unit).clamp(lo, hi);
        let mut out = p.clone();
        match self {
            Param::EagerFloor => out.moe_eager_layer_us = v,
            Param::Mxfp4Compute => out.mxfp4_compute_scale = v,
            Param::Mxfp4Memory => out.mxfp4_memory_scale = v,
            Param::Mxfp4Layer => out.mxfp4_layer_us = v,
            Param::Fp8Memory => out.fp8_moe_memory_scale = v,
            Param::Fp8Layer => out.fp8_moe_layer_us = v,
        }
        // Every candidate of the FP8 terms prices the experts by them.
        out.fp8_moe_roofline |= matches!(self, Param::Fp8Memory | Param::Fp8Layer);
        out
    }

    /// The parameter's range in [`xpyd_models::engine::RANGES`].
    fn range(self) -> (f64, f64) {
        xpyd_models::engine::RANGES
            .iter()
            .find(|(name, _, _)| *name == self.name())
            .map(|&(_, lo, hi)| (lo, hi))
            .expect("every MoE term has a range")
    }

    /// Whether the fitted value sits at a bound its range does not allow as an answer
    /// (the eager floor's and the MXFP4 layer time's 0 is "none", a physical answer).
    fn at_bound(self, v: f64) -> bool {
        let (lo, hi) = self.range();
        v >= hi
            || (matches!(
                self,
                Param::Mxfp4Compute | Param::Mxfp4Memory | Param::Fp8Memory
            ) && v <= lo)
    }
}

impl MoeTerm {
    /// The parameters it fits, in the order the search visits them.
    fn params(self) -> &'static [Param] {
        match self {
            MoeTerm::EagerFloor => &[Param::EagerFloor],
            MoeTerm::Mxfp4Experts => &[Param::Mxfp4Compute, Param::Mxfp4Memory, Param::Mxfp4Layer],
            MoeTerm::Fp8Experts => &[Param::Fp8Memory, Param::Fp8Layer],
        }
    }

    /// The parameters' names, joined for messages.
    pub fn name(self) -> String {
        let names: Vec<&str> = self.params().iter().map(|p| p.name()).collect();
        names.join(" and ")
    }

    /// Whether `run` is fitted on (`base`: the scenario of runs that carry none).
    fn fits_run(self, run: &MeasuredRun, base: Option<&LoadedFile>) -> bool {
        match self {
            MoeTerm::EagerFloor => is_moe(&run.model),
            MoeTerm::Mxfp4Experts => xpyd_models::ModelArch::builtin(&run.model).is_ok_and(|m| {
                m.moe
                    .is_some_and(|e| e.expert_weights == ExpertWeights::Mxfp4)
            }),
            MoeTerm::Fp8Experts => has_fp8_experts(run, base),
        }
    }

    /// Why `engine`'s profiles do not take the term (`None`: they do).
    fn engine_skip(self, engine: &str) -> Option<String> {
        match self {
            MoeTerm::EagerFloor if !xpyd_models::engine::EAGER_PROMPT_ENGINES.contains(&engine) => {
                Some(format!(
                    "{engine} captures CUDA graphs of steps with prompt tokens, its MoE layers inside them: no eager floor to fit (profile unchanged)"
                ))
            }
            _ => None,
        }
    }
}

/// `base` with `term` fitted per profile on the runs of `runs` that the term applies to
/// and that replay with that profile (`opts.engine` / `opts.gpu` select; `opts.folds`
/// checks). Returns the profiles (every profile of `base`, the fitted ones replaced) and
/// one [`GroupFit`] per profile that had such runs.
pub fn fit_moe_term(
    term: MoeTerm,
    runs: &[MeasuredRun],
    base: &EngineProfiles,
    opts: &FitOptions,
) -> Result<(EngineProfiles, Vec<GroupFit>), ScenarioError> {
    let scenario = if runs.iter().any(|r| r.scenario_toml.is_none()) {
        Some(crate::scenario::load_file(
            opts.replay.scenario.as_deref(),
            &crate::scenario::Overrides::default(),
        )?)
    } else {
        None
    };
    let mut groups: BTreeMap<usize, Vec<MeasuredRun>> = BTreeMap::new();
    for r in runs
        .iter()
        .filter(|r| r.skip.is_none() && term.fits_run(r, scenario.as_ref()))
    {
        let (engine, gpu, version) = layer_key(r, scenario.as_ref());
        let selected = opts.engine.as_ref().is_none_or(|e| *e == engine)
            && opts.gpu.as_ref().is_none_or(|g| *g == gpu);
        let found = base
            .find(&engine, &gpu, version.as_deref())
            .and_then(|p| base.profiles.iter().position(|q| std::ptr::eq(q, p)));
        if let (true, Some(i)) = (selected, found) {
            groups.entry(i).or_default().push(r.clone());
        }
    }
    let mut out = base.clone();
    let mut fits = Vec::new();
    for (i, group) in groups {
        let held = base.profiles[i].params.clone();
        let p = &base.profiles[i];
        if let Some(why) = term.engine_skip(&p.engine) {
            fits.push(GroupFit {
                engine: p.engine.clone(),
                gpu: p.gpu.clone(),
                version: p.version.clone(),
                profile: None,
                loss_neutral: f64::NAN,
                loss_fitted: f64::NAN,
                checked_rows: Vec::new(),
                moe_rows: Vec::new(),
                skipped: Some(why),
                suspect: Vec::new(),
            });
            continue;
        }
        let rows = replay_with(&group, &held, &opts.replay)?;
        let usable: Vec<MeasuredRun> = group
            .into_iter()
            .zip(&rows)
            .filter(|(_, row)| row.skipped.is_none())
            .map(|(r, _)| r)
            .collect();
        let mut fit = GroupFit {
            engine: p.engine.clone(),
            gpu: p.gpu.clone(),
            version: p.version.clone(),
            profile: None,
            loss_neutral: loss(&rows),
            loss_fitted: f64::NAN,
            checked_rows: Vec::new(),
            moe_rows: Vec::new(),
            skipped: None,
            suspect: Vec::new(),
        };
        if usable.len() < MIN_ROWS {
            fit.skipped = Some(format!(
                "{} replayable runs for {} (at least {MIN_ROWS} needed): profile unchanged",
                usable.len(),
                term.name()
            ));
            fits.push(fit);
            continue;
        }
        let checked = k_fold_rows(&usable, opts, |train| {
            Ok(descend_term(term, train, &held, opts)?.0)
        })?;
        let (params, loss_fitted) = descend_term(term, &usable, &held, opts)?;
        let source = format!(
            "{}; {} fitted on {} runs of {} ({}-fold check), the rest held",
            p.source,
            term.name(),
            usable.len(),
            opts.source,
            opts.folds
        );
        let mut profile = EngineProfile {
            source,
            params,
            ..p.clone()
        };
        match term {
            MoeTerm::EagerFloor => {
                profile.moe_checked = errors_by_mode(&checked);
                profile.moe_fitted_rows = usable.len();
            }
            MoeTerm::Mxfp4Experts => {
                profile.mxfp4_checked = errors_by_mode(&checked);
                profile.mxfp4_fitted_rows = usable.len();
            }
            MoeTerm::Fp8Experts => {
                profile.fp8_moe_checked = errors_by_mode(&checked);
                profile.fp8_moe_fitted_rows = usable.len();
            }
        }
        for &q in term.params() {
            let v = q.get(&profile.params);
            if q.at_bound(v) {
                let (lo, hi) = q.range();
                fit.suspect.push(format!(
                    "{} = {v} is at a bound of its range [{lo}, {hi}]",
                    q.name()
                ));
            }
        }
        // The FP8 terms switch the experts' pricing (tables -> roofline): where no value
        // of them beats the tables on the runs, the tables stay.
        if loss_fitted.partial_cmp(&fit.loss_neutral) != Some(std::cmp::Ordering::Less) {
            fit.suspect.push(format!(
                "{} do not lower the loss ({:.4} -> {loss_fitted:.4})",
                term.name(),
                fit.loss_neutral
            ));
        }
        if fit.suspect.is_empty() {
            out.profiles[i] = profile.clone();
        }
        fit.profile = Some(profile);
        fit.loss_fitted = loss_fitted;
        fit.moe_rows = checked;
        fits.push(fit);
    }
    Ok((out, fits))
}

/// Search of `term`'s parameters with `held`'s others: for each parameter in turn
/// ([`ROUNDS`] rounds when there are several), a scan of its range on its grid, then a
/// descent from the best grid point with steps halving from half the grid down to its
/// last step ([`Param::steps`]). Returns the parameters and their loss on `runs`.
fn descend_term(
    term: MoeTerm,
    runs: &[MeasuredRun],
    held: &EngineParams,
    opts: &FitOptions,
) -> Result<(EngineParams, f64), ScenarioError> {
    let eval = |p: &EngineParams| -> Result<f64, ScenarioError> {
        Ok(loss(&replay_with(runs, p, &opts.replay)?))
    };
    let rounds = if term.params().len() > 1 { ROUNDS } else { 1 };
    let mut best = held.clone();
    let mut best_loss = f64::INFINITY;
    for _ in 0..rounds {
        for &q in term.params() {
            let (lo, hi) = q.range();
            let (grid, last, _) = q.steps();
            let mut i = 0.0;
            let start = best.clone();
            while lo + i * grid <= hi {
                let cand = q.with(&start, lo + i * grid);
                let l = eval(&cand)?;
                if l < best_loss {
                    (best, best_loss) = (cand, l);
                }
                i += 1.0;
            }
            let mut step = grid / 2.0;
            while step >= last {
                let x = q.get(&best);
                let mut moved = false;
                for v in [x + step, x - step] {
                    let cand = q.with(&best, v);
                    if q.get(&cand) == x {
                        continue;
                    }
                    let l = eval(&cand)?;
                    if l < best_loss {
                        (best, best_loss, moved) = (cand, l, true);
                        break;
                    }
                }
                if !moved {
                    step /= 2.0;
                }
            }
        }
    }
    Ok((best, best_loss))
}
