//! Calibration as a library, without CUDA: everything that turns measurements into an
//! xpyd calibration profile ([`xpyd_models::profile`]) or checks a profile against
//! measurements, except measuring kernels on a GPU (the `xpyd-calibrate` binary of
//! this package, feature `gpu`).
//!
//! - [`aiconfigurator`]: import one GPU's folder of NVIDIA AIConfigurator's perf
//!   database (`xpyd calibrate import-aiconfigurator`);
//! - [`merge`]: merge tables or rows of another profile and the PyTorch scripts' JSON
//!   into a profile, and write a profile atomically (`xpyd-calibrate merge*`);
//! - [`validate`]: measured step times against the cost model (`xpyd validate`).
//!
//! Invariants: nothing here prints or exits; every failure is a `thiserror` enum whose
//! variants name the file and, where one applies, the line, row, column or field.
//! This library depends on `xpyd-models` only among the xpyd crates.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod aiconfigurator;
pub mod merge;
pub mod validate;
