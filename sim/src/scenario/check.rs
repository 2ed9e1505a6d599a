//! The one field checker of every scenario section: [`Validator`] turns a value that is
//! out of range into a [`ScenarioError::Invalid`] naming the file, the TOML path of the
//! field, the value and the accepted range.
//!
//! Invariants: a check returns the value it was given (or its typed form, e.g. a
//! [`SimDuration`] rounded once by [`SimDuration::from_secs_f64`]) or an error; it never
//! clamps. Section modules (`deployment`, `routing`, `autoscale`, `cold_start`,
//! `validate`) depend on this module and never on one another's validation, so the imports
//! point one way. Messages state the accepted range and the value as given.

use super::ScenarioError;
use crate::limits::{MAX_SECS, MIN_PERIOD_S};
use crate::time::SimDuration;
use std::ops::RangeInclusive;
use std::path::Path;

/// Nanoseconds in a second.
const SECOND_NS: u64 = 1_000_000_000;

/// Range checks of one scenario file's fields.
pub(super) struct Validator<'a> {
    pub(super) file: &'a Path,
}

impl Validator<'_> {
    pub(super) fn invalid(&self, field: &str, message: impl Into<String>) -> ScenarioError {
        ScenarioError::Invalid {
            file: self.file.to_path_buf(),
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// An integer in `range` (`u32` fields without a unit: counts, tokens, replicas).
    pub(super) fn count(
        &self,
        field: &str,
        x: u32,
        range: RangeInclusive<u32>,
    ) -> Result<u32, ScenarioError> {
        self.u32_in(field, x, range, "")
    }

    /// A finite number in `[lo, hi]`; `unit` (may be empty) follows the range.
    pub(super) fn f64_in(
        &self,
        field: &str,
        x: f64,
        (lo, hi): (f64, f64),
        unit: &str,
    ) -> Result<f64, ScenarioError> {
        if !(x.is_finite() && x >= lo && x <= hi) {
            let unit = if unit.is_empty() {
                String::new()
            } else {
                format!(" {unit}")
            };
            return Err(self.invalid(field, format!("must be in [{lo}, {hi}]{unit}, got {x:?}")));
        }
        Ok(x)
    }

    /// A finite number in `(0, hi]`; `unit` as in [`Self::f64_in`].
    pub(super) fn positive_up_to(
        &self,
        field: &str,
        x: f64,
        hi: f64,
        unit: &str,
    ) -> Result<f64, ScenarioError> {
        if !(x.is_finite() && x > 0.0 && x <= hi) {
            let unit = if unit.is_empty() {
                String::new()
            } else {
                format!(" {unit}")
            };
            return Err(self.invalid(field, format!("must be in (0, {hi}]{unit}, got {x:?}")));
        }
        Ok(x)
    }

    /// Seconds in `[MIN_PERIOD_S, MAX_SECS]` (`simulation.max-duration-s`,
    /// `simulation.sample-window-s`), converted once.
    pub(super) fn period_secs(&self, field: &str, x: f64) -> Result<SimDuration, ScenarioError> {
        let s = self.f64_in(field, x, (MIN_PERIOD_S, MAX_SECS), "seconds")?;
        Ok(SimDuration::from_secs_f64(s))
    }

    /// Milliseconds in `[0, hi]`, as given and converted once (the value is kept for
    /// reports, the duration for the engine).
    pub(super) fn ms_up_to(
        &self,
        field: &str,
        x: f64,
        hi: f64,
    ) -> Result<(f64, SimDuration), ScenarioError> {
        let ms = self.f64_in(field, x, (0.0, hi), "ms")?;
        Ok((ms, SimDuration::from_millis_f64(ms)))
    }

    /// An efficiency fraction in `[MIN_EFFICIENCY, 1]`: bounded away from 0 so that no
    /// cost divided by it is infinite.
    pub(super) fn efficiency(&self, field: &str, x: f64) -> Result<f64, ScenarioError> {
        self.f64_in(field, x, (crate::limits::MIN_EFFICIENCY, 1.0), "")
    }

    pub(super) fn fraction(&self, field: &str, x: f64) -> Result<f64, ScenarioError> {
        if !(x.is_finite() && x > 0.0 && x <= 1.0) {
            return Err(self.invalid(field, format!("must be in (0, 1], got {x:?}")));
        }
        Ok(x)
    }

    /// A fraction in `[0, 1)` (an HPA `tolerance`).
    pub(super) fn fraction_below_one(&self, field: &str, x: f64) -> Result<f64, ScenarioError> {
        if !(x.is_finite() && (0.0..1.0).contains(&x)) {
            return Err(self.invalid(field, format!("must be in [0, 1), got {x}")));
        }
        Ok(x)
    }

    /// A percentile in `(0, 100]`.
    pub(super) fn percentile(&self, field: &str, x: f64) -> Result<f64, ScenarioError> {
        if !(x.is_finite() && x > 0.0 && x <= 100.0) {
            return Err(self.invalid(field, format!("must be in (0, 100], got {x}")));
        }
        Ok(x)
    }

    /// An integer in `range`; `unit` (may be empty) follows the range in the message
    /// (`seconds (as Kubernetes)`).
    pub(super) fn u32_in(
        &self,
        field: &str,
        x: u32,
        range: RangeInclusive<u32>,
        unit: &str,
    ) -> Result<u32, ScenarioError> {
        if !range.contains(&x) {
            let unit = if unit.is_empty() {
                String::new()
            } else {
                format!(" {unit}")
            };
            return Err(self.invalid(
                field,
                format!(
                    "must be in [{}, {}]{unit}, got {x}",
                    range.start(),
                    range.end()
                ),
            ));
        }
        Ok(x)
    }

    /// Whole seconds in `range` (`stabilization-window-s`, `period-s`), as a duration;
    /// `unit` as in [`Self::u32_in`].
    pub(super) fn whole_secs_in(
        &self,
        field: &str,
        x: u32,
        range: RangeInclusive<u32>,
        unit: &str,
    ) -> Result<SimDuration, ScenarioError> {
        let secs = self.u32_in(field, x, range, unit)?;
        Ok(SimDuration(u64::from(secs) * SECOND_NS))
    }

    /// Seconds in `[MIN_PERIOD_S, MAX_SECS]` (sync periods, windows, intervals): a
    /// period never rounds to 0 ns. Converted once.
    pub(super) fn positive_secs_bounded(
        &self,
        field: &str,
        x: f64,
    ) -> Result<SimDuration, ScenarioError> {
        self.secs_bounded(field, x, true)
    }

    /// Seconds in `[0, 10^7]` (cooldowns, cold-start phases), converted once.
    pub(super) fn non_negative_secs_bounded(
        &self,
        field: &str,
        x: f64,
    ) -> Result<SimDuration, ScenarioError> {
        self.secs_bounded(field, x, false)
    }

    fn secs_bounded(
        &self,
        field: &str,
        x: f64,
        positive: bool,
    ) -> Result<SimDuration, ScenarioError> {
        let lo = if positive { MIN_PERIOD_S } else { 0.0 };
        if !x.is_finite() || x < lo || x > MAX_SECS {
            return Err(self.invalid(
                field,
                format!("must be in [{lo}, {MAX_SECS}] seconds, got {x:?}"),
            ));
        }
        Ok(SimDuration::from_secs_f64(x))
    }

    /// Whole seconds in `[1, 10^7]` (KEDA's and the HPA's integer periods), converted once.
    pub(super) fn whole_positive_secs(
        &self,
        field: &str,
        x: f64,
    ) -> Result<SimDuration, ScenarioError> {
        let d = self.positive_secs_bounded(field, x)?;
        if !d.as_nanos().is_multiple_of(SECOND_NS) {
            return Err(self.invalid(
                field,
                format!("must be whole seconds (KEDA and the HPA take integers), got {x}"),
            ));
        }
        Ok(d)
    }
}
