//! Scenario files: the TOML a user writes ([`ScenarioFile`], a serde mirror) and the
//! validated, typed [`Scenario`] the simulator runs.
//!
//! Invariants: every wire struct denies unknown fields and uses kebab-case with units in
//! the names; no `flatten`. [`Scenario::from_file`] resolves every default (backend
//! defaults for engine knobs, GPU defaults for links) and checks every value, so a
//! `Scenario` that exists can be simulated: its weights fit and its TP divides the heads.
//! Errors name the file and the TOML path of the offending field.
//!
//! Layout: `file` is the wire format, one struct per section; `parse` turns text into it
//! (with `--set` overrides); `validate` turns it into a [`Scenario`] (`config`), with the
//! roles and engine defaults of `deployment` and the router parameters of `routing`;
//! `error` holds [`ScenarioError`]. Every public item is re-exported here.

mod config;
mod deployment;
mod error;
mod file;
mod parse;
mod routing;
mod validate;

pub use config::{
    DynamoConfig, KvTransferConfig, ProfileChoice, Scenario, SloConfig, intra_node_kind,
};
pub use deployment::{
    Backend, EngineConfig, Mode, Priority, RoleConfig, RouterKind, Topology, mode_name,
};
pub use error::ScenarioError;
pub use file::{
    BaselineFile, DeploymentFile, DynamoFile, EfficiencyFile, EngineFile, HardwareFile,
    KvTransferFile, ModelFile, RoleFile, ScenarioFile, SimulationFile, SloFile,
};
pub use parse::{apply_overrides, parse_scenario_text, set_path, table_to_file};
pub use routing::{
    CacheAwareConfig, CacheAwareFile, GaieConfig, GaieFile, KvAwareConfig, KvAwareFile,
    RoutingConfig, RoutingFile,
};
