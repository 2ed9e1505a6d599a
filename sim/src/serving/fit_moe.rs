//! The second stage of `xpyd calibrate fit-engine`: the MoE layers' eager floor
//! (`moe-eager-layer-us`, [`xpyd_models::EngineParams::moe_eager_layer_us`]) fitted on
//! mixture-of-experts runs with every other parameter of the engine layer held.
//!
//! Why a stage of its own: the engine layer is fitted on dense models ([`super::fit`]),
//! whose steps with prompt tokens the kernels bound; engines that capture CUDA graphs of
//! decode-only batches (TensorRT-LLM's PyTorch backend: `DecodeCudaGraphConfig`, "CUDA
//! graph configuration for decode requests"; SGLang without piecewise graphs) launch
//! every kernel of a step with prompt tokens from the CPU, and an MoE layer launches
//! many more than a dense one. On the TensorRT-LLM H100 Qwen3-235B runs the time to
//! first token stays near 170-250 ms at 128-512-token prompts and 4-16 clients, where
//! the kernels of the prompt step take 20-30 ms. One term per profile, fitted where the
//! dense fit cannot see it.
//!
//! Each MoE run is grouped by the profile it replays with (its engine, GPU and version;
//! the version-less profile when its version has none), the term is searched in
//! [`xpyd_models::engine::RANGES`] (a deterministic scan of the range, then a descent
//! from its best point, on the loss of [`super::fit`]), and checked k-fold: each fold's runs replayed with the term fitted on
//! the other folds. Groups with fewer than [`super::fit::MIN_ROWS`] replayable MoE runs
//! keep their profile unchanged (said in `skipped`), as do engines outside
//! [`xpyd_models::engine::EAGER_PROMPT_ENGINES`]; a fit at the top of the term's range is
//! reported and not written (the term would be absorbing another error).

use super::fit::{GroupFit, MIN_ROWS, errors_by_mode, is_moe, loss, replay_with};
use super::replay::{Row, layer_key};
use super::{FitOptions, MeasuredRun};
use crate::scenario::ScenarioError;
use std::collections::BTreeMap;
use xpyd_models::engine::{EngineParams, EngineProfile, EngineProfiles};

/// The search's grid over the term's range, and its last refining step (microseconds
/// per MoE layer).
const GRID_US: f64 = 100.0;
const LAST_STEP_US: f64 = 5.0;

/// `base` with `moe-eager-layer-us` fitted per profile on the MoE runs of `runs` that
/// replay with it (`opts.engine` / `opts.gpu` select; `opts.folds` checks). Returns the
/// profiles (every profile of `base`, the fitted ones replaced) and one [`GroupFit`] per
/// profile that had MoE runs.
pub fn fit_moe_eager(
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
    for r in runs.iter().filter(|r| r.skip.is_none() && is_moe(&r.model)) {
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
        if !xpyd_models::engine::EAGER_PROMPT_ENGINES.contains(&p.engine.as_str()) {
            fits.push(GroupFit {
                engine: p.engine.clone(),
                gpu: p.gpu.clone(),
                version: p.version.clone(),
                profile: None,
                loss_neutral: f64::NAN,
                loss_fitted: f64::NAN,
                checked_rows: Vec::new(),
                moe_rows: Vec::new(),
                skipped: Some(format!(
                    "{} captures CUDA graphs of steps with prompt tokens, its MoE layers inside them: no eager floor to fit (profile unchanged)",
                    p.engine
                )),
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
                "{} replayable MoE runs (at least {MIN_ROWS} needed): profile unchanged",
                usable.len()
            ));
            fits.push(fit);
            continue;
        }
        let mut checked = Vec::new();
        if opts.folds >= 2 {
            let mut by_index: Vec<(usize, Row)> = Vec::new();
            for k in 0..opts.folds {
                let (train, test): (Vec<_>, Vec<_>) = usable
                    .iter()
                    .enumerate()
                    .partition(|(j, _)| j % opts.folds != k);
                let train: Vec<MeasuredRun> = train.into_iter().map(|(_, r)| r.clone()).collect();
                let (params, _) = descend_term(&train, &held, opts)?;
                let test_runs: Vec<MeasuredRun> = test.iter().map(|(_, r)| (*r).clone()).collect();
                let rows = replay_with(&test_runs, &params, &opts.replay)?;
                by_index.extend(test.iter().map(|(j, _)| *j).zip(rows));
            }
            by_index.sort_by_key(|(j, _)| *j);
            checked = by_index.into_iter().map(|(_, r)| r).collect();
        }
        let (params, loss_fitted) = descend_term(&usable, &held, opts)?;
        let v = params.moe_eager_layer_us;
        let profile = EngineProfile {
            source: format!(
                "{}; moe-eager-layer-us fitted on {} MoE runs of {} ({}-fold check), the rest held",
                p.source,
                usable.len(),
                opts.source,
                opts.folds
            ),
            params,
            moe_checked: errors_by_mode(&checked),
            moe_fitted_rows: usable.len(),
            ..p.clone()
        };
        let (lo, hi) = term_range();
        if v >= hi {
            fit.suspect.push(format!(
                "moe-eager-layer-us = {v} is at a bound of its range [{lo}, {hi}]"
            ));
        } else {
            out.profiles[i] = profile.clone();
        }
        fit.profile = Some(profile);
        fit.loss_fitted = loss_fitted;
        fit.moe_rows = checked;
        fits.push(fit);
    }
    Ok((out, fits))
}

/// The range of `moe-eager-layer-us` in [`xpyd_models::engine::RANGES`].
fn term_range() -> (f64, f64) {
    xpyd_models::engine::RANGES
        .iter()
        .find(|(name, _, _)| *name == "moe-eager-layer-us")
        .map(|&(_, lo, hi)| (lo, hi))
        .expect("moe-eager-layer-us has a range")
}

/// 1-D search of `moe-eager-layer-us` with `held`'s other parameters: a scan of the range
/// in steps of [`GRID_US`] (the floor changes nothing until it exceeds the kernels, so
/// the loss is flat near 0 and a descent from there would stop), then a descent from the
/// best grid point with steps halving from half the grid down to [`LAST_STEP_US`].
/// Returns the parameters (the term rounded to 1 us) and their loss on `runs`.
fn descend_term(
    runs: &[MeasuredRun],
    held: &EngineParams,
    opts: &FitOptions,
) -> Result<(EngineParams, f64), ScenarioError> {
    let (lo, hi) = term_range();
    let at = |v: f64| EngineParams {
        moe_eager_layer_us: v.clamp(lo, hi).round(),
        ..held.clone()
    };
    let eval = |p: &EngineParams| -> Result<f64, ScenarioError> {
        Ok(loss(&replay_with(runs, p, &opts.replay)?))
    };
    let mut best = at(lo);
    let mut best_loss = eval(&best)?;
    let mut v = lo + GRID_US;
    while v <= hi {
        let cand = at(v);
        let l = eval(&cand)?;
        if l < best_loss {
            (best, best_loss) = (cand, l);
        }
        v += GRID_US;
    }
    let mut step = GRID_US / 2.0;
    while step >= LAST_STEP_US {
        let x = best.moe_eager_layer_us;
        let mut moved = false;
        for v in [x + step, x - step] {
            let cand = at(v);
            if cand.moe_eager_layer_us == x {
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
    Ok((best, best_loss))
}
