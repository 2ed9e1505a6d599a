//! The one field checker of every scenario section: [`Validator`] turns a value that is
//! out of range into a [`ScenarioError::Invalid`] naming the file, the TOML path of the
//! field, the value and the accepted range.
//!
//! Invariants: a check returns the value it was given (or its typed form, e.g. a
//! [`SimDuration`] rounded once by [`SimDuration::from_secs_f64`]) or an error; it never
//! clamps. Section modules (`deployment`, `routing`, `validate`) depend on this module
//! and never on one another's validation, so the imports point one way.

use super::ScenarioError;
use crate::time::SimDuration;
use std::path::Path;

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

    pub(super) fn positive_u32(&self, field: &str, x: u32) -> Result<u32, ScenarioError> {
        if x == 0 {
            return Err(self.invalid(field, "must be at least 1"));
        }
        Ok(x)
    }

    pub(super) fn positive_f64(&self, field: &str, x: f64) -> Result<f64, ScenarioError> {
        if !(x.is_finite() && x > 0.0) {
            return Err(self.invalid(field, format!("must be a positive number, got {x:?}")));
        }
        Ok(x)
    }

    pub(super) fn at_least(&self, field: &str, x: f64, min: f64) -> Result<f64, ScenarioError> {
        if !(x.is_finite() && x >= min) {
            return Err(self.invalid(field, format!("must be at least {min}, got {x:?}")));
        }
        Ok(x)
    }

    pub(super) fn non_negative_f64(&self, field: &str, x: f64) -> Result<f64, ScenarioError> {
        if !(x.is_finite() && x >= 0.0) {
            return Err(self.invalid(field, format!("must be a non-negative number, got {x:?}")));
        }
        Ok(x)
    }

    /// A positive number of seconds (`simulation.max-duration-s`), converted once.
    pub(super) fn positive_secs(&self, field: &str, x: f64) -> Result<SimDuration, ScenarioError> {
        Ok(SimDuration::from_secs_f64(self.positive_f64(field, x)?))
    }

    /// At least `min` seconds (`simulation.sample-window-s`), converted once.
    pub(super) fn secs_at_least(
        &self,
        field: &str,
        x: f64,
        min: f64,
    ) -> Result<SimDuration, ScenarioError> {
        Ok(SimDuration::from_secs_f64(self.at_least(field, x, min)?))
    }

    /// A non-negative number of milliseconds, as given and converted once (the value is
    /// kept for reports, the duration for the engine).
    pub(super) fn non_negative_ms(
        &self,
        field: &str,
        x: f64,
    ) -> Result<(f64, SimDuration), ScenarioError> {
        let ms = self.non_negative_f64(field, x)?;
        Ok((ms, SimDuration::from_millis_f64(ms)))
    }

    pub(super) fn fraction(&self, field: &str, x: f64) -> Result<f64, ScenarioError> {
        if !(x.is_finite() && x > 0.0 && x <= 1.0) {
            return Err(self.invalid(field, format!("must be in (0, 1], got {x:?}")));
        }
        Ok(x)
    }
}
