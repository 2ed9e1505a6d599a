//! What things cost in xpyd: model architectures ([`arch`]), GPUs and links ([`gpu`]),
//! numeric formats ([`dtype`]), what a serving engine adds around the kernels
//! ([`engine`]), how much KV cache fits on an instance ([`memory`]) and
//! the time of one engine step ([`cost`]).
//!
//! Invariants: everything here is pure and deterministic (no I/O except the explicit
//! file loaders, no randomness, no global state). Costs are `f64` seconds; the simulator
//! converts them to integer nanoseconds once, at its boundary.
#![warn(missing_docs, unreachable_pub)]

pub mod arch;
pub mod calibrated;
pub mod cost;
pub mod dtype;
pub mod engine;
pub mod file;
pub mod gpu;
pub mod memory;
pub mod num;
pub mod parallel;
pub mod profile;
pub mod step_memo;

pub use arch::{ExpertWeights, Mla, ModelArch, ModelError, Moe, SlidingWindow};
pub use calibrated::{CostSources, TermSource, builtin_profile};
pub use cost::{
    CostBreakdown, CostModel, CostSource, Efficiencies, MAX_DRAFT_TOKENS, MoeKernel, Speculative,
    StepCost, StepShape,
};
pub use dtype::{Dtype, ExpertDtype};
pub use engine::{EngineParams, EngineProfile, EngineProfiles};
pub use gpu::{GpuError, GpuSpec, Interconnect, InterconnectKind};
pub use memory::{FitError, MemoryPlan};
pub use parallel::Parallelism;
pub use step_memo::StepMemo;
