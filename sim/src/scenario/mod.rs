//! Scenario files: the TOML a user writes ([`ScenarioFile`], a serde mirror) and the
//! validated, typed [`Scenario`] the simulator runs.
//!
//! Invariants: every wire struct denies unknown fields and uses kebab-case with units in
//! the names; no `flatten`. [`Scenario::from_file`] resolves every default (backend
//! defaults for engine knobs, GPU defaults for links) and checks every value, so a
//! `Scenario` that exists can be simulated: its weights fit and its TP divides the heads.
//! Errors name the file and the TOML path of the offending field.
//!
//! Layout: one convention for every section, a wire struct (serde mirror) turned into
//! a validated type by one field checker (`check::Validator`). `file` is the top-level wire
//! format; sections with their own validation keep wire and validated types together:
//! `deployment` (roles, engine defaults), `routing`, `autoscale` and `cold_start` (which
//! the controllers of `crate::policy::autoscale` take: the dependency points from policy to
//! scenario, never back); `validate` assembles a [`Scenario`] (`config`); `parse` turns
//! text into the wire form with `--set` pairs; `load` is the one loader every command uses
//! ([`Scenario::load_with`], [`Overrides`], [`DEFAULT_SCENARIO`]); `error` holds
//! [`ScenarioError`]. Imports point one way: `check` <- sections <- `validate` <- `load`.
//! Every public item is re-exported here.

pub(crate) mod autoscale;
mod check;
mod cold_start;
mod config;
mod deployment;
mod error;
mod failures;
mod file;
mod load;
mod name;
mod parse;
mod plan;
mod role_ctx;
mod routing;
mod spot;
mod validate;

pub use autoscale::{
    AutoscaleConfig, AutoscaleFile, BehaviorMode, DEFAULT_PERCENTILE, DEFAULT_WINDOW_S, HpaConfig,
    HpaFile, KedaConfig, KedaFile, Metric, MetricName, MetricTarget, MetricType, PolicyType,
    PredictorKind, ScalingPolicy, ScalingPolicyFile, ScalingRules, ScalingRulesFile, SelectPolicy,
    SlaPlannerConfig, SlaPlannerFile, Stage,
};
pub use cold_start::storage as cold_start_storage;
pub use cold_start::{
    ColdStartConfig, ColdStartFile, ColdStartPreset, LoadPhases, Mount, MountKind, StorageModel,
    load_seconds,
};
pub use config::{
    DynamoConfig, EngineLayer, KvTransferConfig, ProfileChoice, Scenario, SloConfig,
    intra_node_kind,
};
pub use deployment::{
    AcceptanceFile, Admission, Backend, ContextWait, DeploymentFile, EngineConfig, EngineFile,
    MemoryFraction, Mode, Priority, RoleConfig, RoleFile, RoleHardware, RouterKind,
    SpeculativeConfig, SpeculativeFile, SpeculativeMethod, StreamChunks, Topology, mode_name,
};
pub use error::ScenarioError;
pub use failures::{
    FailureEvent, FailureEventFile, FailureTarget, FailuresConfig, FailuresFile, MAX_NOTICE_S,
    MAX_RETRIES, MTBF_RANGE_HOURS,
};
pub use file::{
    BaselineFile, DynamoFile, EfficiencyFile, HardwareFile, KvTransferFile, ModelFile,
    ScenarioFile, SimulationFile, SloFile,
};
pub use load::{
    DEFAULT_FILE_NAME, DEFAULT_NAME, DEFAULT_SCENARIO, LoadedFile, Overrides, ProfileOverride,
    load_file,
};
pub use parse::{apply_overrides, parse_scenario_text, table_to_file};
pub use plan::{AVAILABILITY_RANGE, DEFAULT_SPOT_MIXES, MAX_SPOT_MIXES, PlanConfig, PlanFile};
pub(crate) use role_ctx::sglang_chunk_tokens;
pub use routing::{
    CacheAwareConfig, CacheAwareFile, GaieConfig, GaieFile, KvAwareConfig, KvAwareFile,
    RoutingConfig, RoutingFile,
};
pub use spot::{
    DEFAULT_SPOT_NOTICE_S, PREEMPTION_RATE_RANGE_PER_HOUR, SpotConfig, SpotEvent, SpotEventFile,
    SpotFile,
};
