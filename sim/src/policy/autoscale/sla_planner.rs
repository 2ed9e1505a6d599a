//! NVIDIA Dynamo's SLA planner, for one stage (prefill or decode).
//!
//! Every `adjustment_interval` (180 s) the planner (ai-dynamo/dynamo
//! `components/planner/src/dynamo/planner/utils/planner_core.py`, `docs/architecture/sla_planner.md`):
//! 1. observes the last interval's request rate, mean ISL and mean OSL and feeds one
//!    predictor per series (`utils/load_predictor.py`);
//! 2. skips the adjustment when the interval had no traffic (Dynamo's `Metrics.is_valid`
//!    fails on NaN averages), so the count holds;
//! 3. for prefill, updates the correction factor `observed mean TTFT / profiled TTFT`
//!    (when `expected-ttft-ms` is set; it persists across intervals, initially 1);
//! 4. predicts the next interval's rate, ISL and OSL and sizes the pool:
//!    - prefill: `ceil(rate x ISL x min(1, correction) / capacity)`, the capacity being the
//!      prompt tokens/s one replica sustains under the TTFT SLO (Dynamo: interpolated
//!      throughput per GPU at the ISL x GPUs per engine);
//!    - decode: `ceil(rate x OSL / capacity)`, the capacity being the output tokens/s one
//!      replica sustains under the ITL SLO (Dynamo: best throughput per GPU at the
//!      corrected ITL and context ISL + OSL/2);
//! 5. clamps to `[min_endpoint, max-replicas]` (Dynamo: `min_endpoint` then the GPU budget).
//!
//! Simplifications, stated: the capacity is one profiled number, not an interpolation over
//! ISL or context; the decode correction factor (ITL) is not modelled; Dynamo's default
//! predictor (auto-ARIMA) is replaced by `constant`, `moving-average` or `drift`
//! (ARIMA(0,1,0) with a constant).
//!
//! Invariants: predictions are finite and >= 0; the result is within
//! `[min_replicas, max_replicas]` whenever the planner adjusts.

use super::hpa::ceil_count;
use super::{Autoscaler, RoleSignals};
use crate::scenario::{PredictorKind, SlaPlannerConfig, Stage};
use crate::time::SimDuration;
use std::collections::VecDeque;

/// Points a model-based predictor needs before it stops repeating the last value
/// (Dynamo `BasePredictor(minimum_data_points=5)`).
const MIN_MODEL_POINTS: usize = 5;

/// Predicts the next value of one series from its recent values.
#[derive(Clone, Debug)]
pub(crate) struct Predictor {
    kind: PredictorKind,
    window: usize,
    values: VecDeque<f64>,
}

impl Predictor {
    pub(crate) fn new(kind: PredictorKind, window: usize) -> Predictor {
        Predictor {
            kind,
            window: window.max(1),
            values: VecDeque::new(),
        }
    }

    /// Adds one interval's value; a non-finite value counts as 0 (Dynamo: NaN -> 0).
    pub(crate) fn add(&mut self, v: f64) {
        let v = if v.is_finite() { v.max(0.0) } else { 0.0 };
        self.values.push_back(v);
        while self.values.len() > self.window {
            self.values.pop_front();
        }
    }

    /// The next interval's value (0 with no data).
    pub(crate) fn predict(&self) -> f64 {
        let Some(&last) = self.values.back() else {
            return 0.0;
        };
        let n = self.values.len();
        match self.kind {
            PredictorKind::Constant => last,
            PredictorKind::MovingAverage => self.values.iter().sum::<f64>() / n as f64,
            PredictorKind::Drift => {
                if n < MIN_MODEL_POINTS {
                    return last;
                }
                let first = self.values[0];
                (last + (last - first) / (n - 1) as f64).max(0.0)
            }
        }
    }
}

/// A Dynamo SLA planner sizing one stage (see the module docs).
#[derive(Clone, Debug)]
pub struct SlaPlanner {
    cfg: SlaPlannerConfig,
    rate: Predictor,
    isl: Predictor,
    osl: Predictor,
    prefill_correction: f64,
}

impl SlaPlanner {
    /// A planner with empty predictors and a correction factor of 1.
    pub fn new(cfg: SlaPlannerConfig) -> SlaPlanner {
        let p = || Predictor::new(cfg.predictor, cfg.prediction_window);
        SlaPlanner {
            rate: p(),
            isl: p(),
            osl: p(),
            prefill_correction: 1.0,
            cfg,
        }
    }

    /// The count for a predicted load, clamped to the bounds.
    pub fn replicas_for(&self, rate_rps: f64, isl: f64, osl: f64) -> u32 {
        let tokens_per_s = match self.cfg.stage {
            Stage::Prefill => rate_rps * isl * self.prefill_correction.min(1.0),
            Stage::Decode => rate_rps * osl,
        };
        ceil_count(tokens_per_s / self.cfg.capacity_tokens_per_s)
            .max(self.cfg.min_replicas)
            .min(self.cfg.max_replicas)
    }

    /// The current prefill correction factor (observed / profiled TTFT; 1 until measured).
    pub fn prefill_correction(&self) -> f64 {
        self.prefill_correction
    }
}

impl Autoscaler for SlaPlanner {
    fn sync_period(&self) -> SimDuration {
        self.cfg.adjustment_interval
    }

    fn desired(&mut self, s: &RoleSignals) -> u32 {
        self.rate.add(s.arrival_rate_rps);
        self.isl.add(s.mean_input_tokens);
        self.osl.add(s.mean_output_tokens);
        if !(s.arrival_rate_rps.is_finite() && s.arrival_rate_rps > 0.0) {
            return s.current();
        }
        if let (Some(expected), Some(observed)) = (self.cfg.expected_ttft_ms, s.ttft_ms)
            && observed.is_finite()
            && observed > 0.0
        {
            self.prefill_correction = observed / expected;
        }
        self.replicas_for(self.rate.predict(), self.isl.predict(), self.osl.predict())
    }

    fn name(&self) -> &'static str {
        "sla-planner"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_predicts_the_last_value() {
        let mut p = Predictor::new(PredictorKind::Constant, 50);
        assert_eq!(p.predict(), 0.0);
        p.add(3.0);
        p.add(7.0);
        assert_eq!(p.predict(), 7.0);
    }

    #[test]
    fn moving_average_over_the_window() {
        let mut p = Predictor::new(PredictorKind::MovingAverage, 3);
        for v in [100.0, 1.0, 2.0, 3.0] {
            p.add(v);
        }
        assert_eq!(p.predict(), 2.0);
    }

    #[test]
    fn drift_extrapolates_the_mean_step_after_five_points() {
        let mut p = Predictor::new(PredictorKind::Drift, 50);
        for v in [1.0, 2.0, 3.0, 4.0] {
            p.add(v);
        }
        assert_eq!(p.predict(), 4.0, "fewer than 5 points: last value");
        p.add(5.0);
        assert_eq!(p.predict(), 6.0);
        p.add(f64::NAN);
        // Series 1,2,3,4,5,0: last 0 + (0 - 1)/5 < 0, floored at 0.
        assert_eq!(p.predict(), 0.0);
    }
}
