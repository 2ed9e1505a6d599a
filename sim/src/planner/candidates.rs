//! The planner's search space: every deployment unit it considers, as one ordered list.
//!
//! A [`Candidate`] is one *deployment unit*: a mode (aggregated or disaggregated), a GPU
//! type, the replicas and TP of each role, one pair of batching knobs (applied to every
//! role) and one router (applied to every role). The deployment the planner recommends
//! starts as a whole number of such units, then loses the replicas the SLOs do not need.
//!
//! # Invariants
//!
//! - [`enumerate`] is a pure function of the base scenario and the [`SearchSpace`]: the
//!   same inputs give the same candidates in the same order, and `Candidate::index` is the
//!   position in that list. Sharding a plan (a later `--shard I/N`) can therefore split
//!   the list by index and a merge can put the slices back together.
//! - Every candidate in the list builds into a valid [`Scenario`] (its weights fit, its TP
//!   divides the heads and spans nodes evenly, it uses at most `gpus_max` GPUs):
//!   combinations that do not are left out of the list, not reported as errors.
//! - Heterogeneous PD: with several GPU types, disaggregated units whose prefill and
//!   decode roles run on different types (every ordered pair, e.g. prefill on H200 with
//!   decode on H20) follow every single-type candidate, so the list of one GPU type, and
//!   the single-type prefix of a longer list, are exactly what they were without them.
//! - Routers only vary where a role has more than one replica (with one replica every
//!   router makes the same choice); otherwise the candidate uses round-robin.
//! - MoE splits: with [`SearchSpace::moe_splits`] (a mixture-of-experts model, unless
//!   the user asked for TP only), each role's TP degree `t` is tried with DP-attention
//!   and expert parallelism `(dp, ep)` = `(1, 1)`, `(1, t)`, `(t, t)` and the scenario
//!   role's own split, in that order, keeping those [`Parallelism::check`] accepts (the
//!   rule scenario validation applies). Without it every candidate keeps the scenario
//!   role's `dp` and `ep` (1 for a dense model), so a dense model's list is what it was.

use super::PlanError;
use crate::describe::Shape;
use crate::role::Role;
use crate::scenario::{BaselineFile, Mode, RoleFile, RouterKind, Scenario, ScenarioFile};
use std::fmt;
use std::path::Path;
use xpyd_models::memory::check_tp;
use xpyd_models::{GpuSpec, ModelArch, Parallelism};

pub use crate::describe::RoleShape;

/// Replicas of each role of a sized deployment (which need not be a whole number of
/// units: the planner trims replicas the SLOs do not need).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Replicas {
    /// Prefill instances (for an aggregated deployment: its instances).
    pub prefill: u32,
    /// Decode instances (0 for an aggregated deployment).
    pub decode: u32,
}

impl Replicas {
    /// Instances of `role` (an aggregated deployment's are counted as `prefill`).
    pub fn of(&self, role: Role) -> u32 {
        match role {
            Role::Prefill | Role::Aggregated => self.prefill,
            Role::Decode => self.decode,
        }
    }

    /// Instances of `role`, to change.
    pub fn of_mut(&mut self, role: Role) -> &mut u32 {
        match role {
            Role::Prefill | Role::Aggregated => &mut self.prefill,
            Role::Decode => &mut self.decode,
        }
    }
}

/// Batching knobs, applied to every role of a candidate.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Knobs {
    /// Tokens per step (vLLM `--max-num-batched-tokens`, SGLang `--chunked-prefill-size`).
    pub max_batched_tokens: u32,
    /// Running sequences (vLLM `--max-num-seqs`, SGLang `--max-running-requests`).
    pub max_num_seqs: u32,
}

/// One deployment unit the planner evaluates.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// Position in the enumerated list (stable for given inputs).
    pub index: usize,
    /// GPU catalog id (of every role; of the prefill role when `decode_gpu` is set).
    pub gpu: String,
    /// Heterogeneous PD: the decode role's GPU when it differs from `gpu`.
    pub decode_gpu: Option<String>,
    /// Aggregated or disaggregated.
    pub mode: Mode,
    /// Prefill role (for an aggregated unit: the one role, equal to `decode`).
    pub prefill: RoleShape,
    /// Decode role (for an aggregated unit: the one role, equal to `prefill`).
    pub decode: RoleShape,
    /// Batching knobs.
    pub knobs: Knobs,
    /// Router of every role.
    pub router: RouterKind,
}

impl Candidate {
    /// GPUs of one unit.
    pub fn gpus(&self) -> u32 {
        match self.mode {
            Mode::Disaggregated => self.prefill.gpus() + self.decode.gpus(),
            Mode::Aggregated => self.prefill.gpus(),
        }
    }

    /// `disaggregated` or `aggregated`.
    pub fn mode_name(&self) -> &'static str {
        match self.mode {
            Mode::Disaggregated => "disaggregated",
            Mode::Aggregated => "aggregated",
        }
    }

    /// The roles of one unit.
    pub fn shape(&self) -> Shape {
        Shape::new(self.mode, self.prefill, self.decode)
    }

    /// Short description, e.g. `2P1D TP2/2 l20`, `4x TP2 l20` or, prefill and decode on
    /// different GPUs, `2P1D TP2/2 h200/h20`.
    pub fn shape_label(&self) -> String {
        format!("{:#} {}", self.shape(), self.gpu_label())
    }

    /// The GPU types: `h200`, or `h200/h20` (prefill/decode) for heterogeneous PD.
    pub fn gpu_label(&self) -> String {
        match &self.decode_gpu {
            None => self.gpu.clone(),
            Some(d) => format!("{}/{d}", self.gpu),
        }
    }

    /// The GPU type of `role`.
    pub fn gpu_of(&self, role: Role) -> &str {
        match (role, &self.decode_gpu) {
            (Role::Decode, Some(d)) => d,
            _ => &self.gpu,
        }
    }

    /// Price of a GPU-hour of a unit, USD, from the price of each GPU type: the price of
    /// its GPU, or for heterogeneous PD the GPU-weighted mean of its roles' (so that
    /// `gpus() x price` is the unit's USD/hour); `None` unless every role's GPU is priced.
    pub fn usd_per_gpu_hour(&self, price: &dyn Fn(&str) -> Option<f64>) -> Option<f64> {
        self.usd_per_gpu_hour_of(self.replicas(1), price)
    }

    /// [`Self::usd_per_gpu_hour`] of this candidate's roles at `size` replicas.
    pub fn usd_per_gpu_hour_of(
        &self,
        size: Replicas,
        price: &dyn Fn(&str) -> Option<f64>,
    ) -> Option<f64> {
        match &self.decode_gpu {
            None => price(&self.gpu),
            Some(d) => {
                let (pg, dg) = (size.prefill * self.prefill.tp, size.decode * self.decode.tp);
                let usd = f64::from(pg) * price(&self.gpu)? + f64::from(dg) * price(d)?;
                Some(usd / f64::from((pg + dg).max(1)))
            }
        }
    }

    /// The base scenario file with this candidate's deployment, `units` units of it, and
    /// no aggregated baseline (the planner simulates only the deployment).
    pub fn scenario_file(&self, base: &ScenarioFile, units: u32) -> ScenarioFile {
        self.scenario_file_of(base, self.replicas(units))
    }

    /// The replicas of `units` whole units.
    pub fn replicas(&self, units: u32) -> Replicas {
        Replicas {
            prefill: self.prefill.replicas * units,
            decode: match self.mode {
                Mode::Disaggregated => self.decode.replicas * units,
                Mode::Aggregated => 0,
            },
        }
    }

    /// GPUs of a deployment of this candidate's roles with `size` replicas.
    pub fn gpus_of(&self, size: Replicas) -> u32 {
        size.prefill * self.prefill.tp + size.decode * self.decode.tp
    }

    /// The base scenario file with this candidate's roles at `size` replicas (not
    /// necessarily a whole number of units), and no aggregated baseline.
    pub fn scenario_file_of(&self, base: &ScenarioFile, size: Replicas) -> ScenarioFile {
        let mut f = base.clone();
        // The planner sizes on-demand capacity: the scenario's spot replicas and reclaims
        // (`[spot]`) describe its own roles, not the candidate's.
        f.spot = None;
        // `[plan]` sizes the plan itself; the deployment it recommends does not carry it.
        f.plan = None;
        if f.hardware.gpu != self.gpu {
            // Link and node overrides describe the scenario's own GPU servers.
            f.hardware.gpus_per_node = None;
            f.hardware.nic_gbit_s = None;
            f.hardware.intra_node_gb_s = None;
            f.hardware.gpu_hour_usd = None;
            f.hardware.gpu = self.gpu.clone();
        }
        let hardware_gpu = f.hardware.gpu.clone();
        let role = |shape: RoleShape, replicas: u32, template: Option<&RoleFile>, gpu: &str| {
            // Start from the scenario's role so fields the planner does not search keep
            // their values; the reserve follows the token budget unless the user pinned it.
            let mut r = template.cloned().unwrap_or_default();
            // The role's GPU: `[hardware]`'s (no GPU fields of its own) or another type,
            // whose servers are that GPU's usual ones unless the scenario's role described
            // the same GPU.
            let wanted = (gpu != hardware_gpu).then(|| gpu.to_owned());
            if r.gpu != wanted {
                r.gpu = wanted;
                r.gpus_per_node = None;
                r.nic_gbit_s = None;
                r.intra_node_gb_s = None;
                r.gpu_hour_usd = None;
            }
            r.replicas = replicas;
            r.tp = shape.tp;
            r.spot_replicas = None;
            // The split: the role's own field stays as written where it is the same.
            if r.dp.unwrap_or(1) != shape.dp {
                r.dp = (shape.dp > 1).then_some(shape.dp);
            }
            if r.ep.unwrap_or(1) != shape.ep {
                r.ep = (shape.ep > 1).then_some(shape.ep);
            }
            // The scenario's expert imbalance and two-batch overlap describe its own
            // split; a candidate without expert parallelism (or DP attention) has none.
            if shape.ep <= 1 {
                r.expert_imbalance = None;
            }
            if shape.dp <= 1 || shape.ep <= 1 {
                r.two_batch_overlap = None;
            }
            r.router = Some(self.router);
            r.engine.max_batched_tokens = Some(self.knobs.max_batched_tokens);
            r.engine.max_num_seqs = Some(self.knobs.max_num_seqs);
            r
        };
        let d = &base.deployment;
        match self.mode {
            Mode::Disaggregated => {
                f.deployment.prefill = Some(role(
                    self.prefill,
                    size.prefill,
                    d.prefill.as_ref(),
                    self.gpu_of(Role::Prefill),
                ));
                f.deployment.decode = Some(role(
                    self.decode,
                    size.decode,
                    d.decode.as_ref(),
                    self.gpu_of(Role::Decode),
                ));
                f.deployment.aggregated = None;
            }
            Mode::Aggregated => {
                let t = d.aggregated.as_ref().or(d.decode.as_ref());
                f.deployment.aggregated = Some(role(self.prefill, size.prefill, t, &self.gpu));
                f.deployment.prefill = None;
                f.deployment.decode = None;
            }
        }
        f.deployment.mode = Some(self.mode);
        f.baseline = BaselineFile {
            enabled: Some(false),
            ..BaselineFile::default()
        };
        f
    }

    /// The validated scenario of `units` units of this candidate.
    pub fn scenario(
        &self,
        base: &ScenarioFile,
        file: &Path,
        base_dir: &Path,
        units: u32,
    ) -> Result<Scenario, PlanError> {
        Scenario::from_file(file, base_dir, self.scenario_file(base, units)).map_err(|e| {
            PlanError::Candidate {
                candidate: self.shape_label(),
                message: e.to_string(),
            }
        })
    }
}

/// What the planner searches over.
#[derive(Clone, PartialEq)]
pub struct SearchSpace {
    /// GPU catalog ids, in the user's order.
    pub gpus: Vec<String>,
    /// Most GPUs one unit may use.
    pub gpus_max: u32,
    /// Modes to consider.
    pub modes: Vec<Mode>,
    /// TP degrees to try per role (kept where they divide the heads and fit).
    pub tps: Vec<u32>,
    /// Token budgets per step to try.
    pub token_budgets: Vec<u32>,
    /// Max running sequences to try.
    pub max_num_seqs: Vec<u32>,
    /// Routers to try where a role has several replicas.
    pub routers: Vec<RouterKind>,
    /// Try each TP degree with the DP-attention / expert-parallel splits of a
    /// mixture-of-experts model (see the module invariants); off: every candidate keeps
    /// the scenario's `dp` and `ep`. Set by [`SearchSpace::with_moe_splits`].
    pub moe_splits: bool,
    /// Units of more GPUs than this are screened by their roles' measured capacities
    /// before they are simulated (`None`: never; see [`super::screen`]).
    pub screen_above_gpus: Option<u32>,
}

impl fmt::Debug for SearchSpace {
    /// The derived form, with `moe_splits` written only when on: a plan's shard
    /// fingerprint covers this text, and stays what it was for a search without splits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let SearchSpace {
            gpus,
            gpus_max,
            modes,
            tps,
            token_budgets,
            max_num_seqs,
            routers,
            moe_splits,
            screen_above_gpus,
        } = self;
        let mut d = f.debug_struct("SearchSpace");
        d.field("gpus", gpus)
            .field("gpus_max", gpus_max)
            .field("modes", modes)
            .field("tps", tps)
            .field("token_budgets", token_budgets)
            .field("max_num_seqs", max_num_seqs)
            .field("routers", routers);
        if *moe_splits {
            d.field("moe_splits", moe_splits);
        }
        d.field("screen_above_gpus", screen_above_gpus);
        d.finish()
    }
}

/// Which parallelism each role's TP candidate is tried with (`xpyd plan --moe-splits`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum MoeSplits {
    /// A mixture-of-experts model: DP-attention and expert-parallel splits of every TP
    /// degree; a dense model: TP only.
    #[default]
    Auto,
    /// TP only: every candidate keeps the scenario's `dp` and `ep`.
    TpOnly,
}

impl MoeSplits {
    /// The names the command line takes, in order.
    pub const NAMES: [&'static str; 2] = ["auto", "tp-only"];

    /// The choice named `name` (one of [`Self::NAMES`]).
    pub fn from_name(name: &str) -> Option<MoeSplits> {
        match name {
            "auto" => Some(MoeSplits::Auto),
            "tp-only" => Some(MoeSplits::TpOnly),
            _ => None,
        }
    }
}

impl SearchSpace {
    /// The default space for GPUs `gpus` and units of at most `gpus_max` GPUs: both
    /// modes, TP 1/2/4/8, token budgets 2048/4096/8192, max sequences 128/1024, the four
    /// routers.
    pub fn default_for(gpus: Vec<String>, gpus_max: u32) -> SearchSpace {
        SearchSpace {
            gpus,
            gpus_max,
            modes: vec![Mode::Disaggregated, Mode::Aggregated],
            tps: vec![1, 2, 4, 8],
            token_budgets: vec![2048, 4096, 8192],
            max_num_seqs: vec![128, 1024],
            routers: vec![
                RouterKind::RoundRobin,
                RouterKind::Random,
                RouterKind::LeastOutstanding,
                RouterKind::PowerOfTwo,
            ],
            moe_splits: false,
            screen_above_gpus: Some(super::screen::SCREEN_ABOVE_GPUS),
        }
    }

    /// This space with the MoE splits `choice` resolved for `arch`: searched for a
    /// mixture-of-experts model under [`MoeSplits::Auto`], never for a dense one.
    pub fn with_moe_splits(mut self, choice: MoeSplits, arch: &ModelArch) -> SearchSpace {
        self.moe_splits = choice == MoeSplits::Auto && arch.moe.is_some();
        self
    }

    /// The `(dp, ep)` splits tried for TP `tp` of a role whose scenario role has
    /// `own = (dp, ep)`: see the module invariants. Empty when none is valid.
    pub fn splits(&self, arch: &ModelArch, tp: u32, own: (u32, u32)) -> Vec<(u32, u32)> {
        if !self.moe_splits {
            return vec![own];
        }
        let mut out: Vec<(u32, u32)> = Vec::new();
        for (dp, ep) in [(1, 1), (1, tp), (tp, tp), own] {
            let p = Parallelism { gpus: tp, dp, ep };
            if !out.contains(&(dp, ep)) && p.check(arch).is_ok() {
                out.push((dp, ep));
            }
        }
        out
    }

    /// The default unit size bound for base scenario `sc`: a node of its GPU, or its
    /// own deployment's GPUs if more.
    pub fn default_gpus_max(sc: &Scenario) -> u32 {
        sc.kv_transfer.gpus_per_node.max(sc.topology.gpus())
    }
}

/// Enumerate the candidates of `space` for the base scenario, in a fixed order: GPU (as
/// given), mode (as given), prefill TP and split, decode TP and split, prefill replicas,
/// decode replicas, token budget, max sequences, router. Combinations that do not build
/// (weights do not fit, TP does not divide the heads) are left out.
pub fn enumerate(
    base: &ScenarioFile,
    file: &Path,
    base_dir: &Path,
    space: &SearchSpace,
) -> Result<Vec<Candidate>, PlanError> {
    let arch = resolve_model(base, base_dir)?;
    for gpu in &space.gpus {
        GpuSpec::builtin(gpu).map_err(|e| PlanError::Gpu {
            gpu: gpu.clone(),
            message: e.to_string(),
        })?;
    }
    // TP degrees whose heads split evenly (with MoE splits: that some split accepts);
    // whether the weights fit at every knob pair is the scenario validation itself.
    let tps: Vec<u32> = space
        .tps
        .iter()
        .copied()
        .filter(|&t| t <= space.gpus_max && (space.moe_splits || check_tp(&arch, t).is_ok()))
        .collect();
    let d = &base.deployment;
    let own = |r: Option<&RoleFile>| r.map_or((1, 1), |r| (r.dp.unwrap_or(1), r.ep.unwrap_or(1)));
    let roles = |template: Option<&RoleFile>| -> Vec<RoleShape> {
        let mut out = Vec::new();
        for &tp in &tps {
            for (dp, ep) in space.splits(&arch, tp, own(template)) {
                out.push(RoleShape {
                    replicas: 1,
                    tp,
                    dp,
                    ep,
                });
            }
        }
        out
    };
    let pars = RolePars {
        prefill: roles(d.prefill.as_ref()),
        decode: roles(d.decode.as_ref()),
        aggregated: roles(d.aggregated.as_ref().or(d.decode.as_ref())),
    };
    let mut out: Vec<Candidate> = Vec::new();
    for gpu in &space.gpus {
        let shapes = unit_shapes(space, &pars, &space.modes);
        push_candidates(base, file, base_dir, space, gpu, None, shapes, &mut out);
    }
    // Heterogeneous PD: every ordered pair of distinct GPU types, disaggregated only.
    if space.modes.contains(&Mode::Disaggregated) {
        for p in &space.gpus {
            for d in &space.gpus {
                if p == d {
                    continue;
                }
                let shapes = unit_shapes(space, &pars, &[Mode::Disaggregated]);
                push_candidates(base, file, base_dir, space, p, Some(d), shapes, &mut out);
            }
        }
    }
    for (i, c) in out.iter_mut().enumerate() {
        c.index = i;
    }
    Ok(out)
}

/// The TP degrees and splits of one instance of each role (one replica each), in
/// enumeration order.
struct RolePars {
    prefill: Vec<RoleShape>,
    decode: Vec<RoleShape>,
    aggregated: Vec<RoleShape>,
}

/// The units of `modes` (in that order) with the roles of `pars` within
/// `space.gpus_max` GPUs: mode, prefill TP and split, decode TP and split, prefill
/// replicas, decode replicas.
fn unit_shapes(
    space: &SearchSpace,
    pars: &RolePars,
    modes: &[Mode],
) -> Vec<(Mode, RoleShape, RoleShape)> {
    let mut shapes: Vec<(Mode, RoleShape, RoleShape)> = Vec::new();
    for &mode in modes {
        match mode {
            Mode::Disaggregated => {
                for &p1 in &pars.prefill {
                    for &d1 in &pars.decode {
                        for x in 1..=space.gpus_max / p1.tp {
                            for y in 1..=space.gpus_max / d1.tp {
                                if x * p1.tp + y * d1.tp <= space.gpus_max {
                                    let p = RoleShape { replicas: x, ..p1 };
                                    let d = RoleShape { replicas: y, ..d1 };
                                    shapes.push((mode, p, d));
                                }
                            }
                        }
                    }
                }
            }
            Mode::Aggregated => {
                for &a1 in &pars.aggregated {
                    for r in 1..=space.gpus_max / a1.tp {
                        let s = RoleShape { replicas: r, ..a1 };
                        shapes.push((mode, s, s));
                    }
                }
            }
        }
    }
    shapes
}

/// Append the candidates of `shapes` on `gpu` (decode on `decode_gpu` when given) that
/// build into a valid scenario: each shape x token budget x max sequences x router.
#[allow(clippy::too_many_arguments)]
fn push_candidates(
    base: &ScenarioFile,
    file: &Path,
    base_dir: &Path,
    space: &SearchSpace,
    gpu: &str,
    decode_gpu: Option<&str>,
    shapes: Vec<(Mode, RoleShape, RoleShape)>,
    out: &mut Vec<Candidate>,
) {
    for (mode, p, d) in shapes {
        for &mbt in &space.token_budgets {
            for &seqs in &space.max_num_seqs {
                let knobs = Knobs {
                    max_batched_tokens: mbt,
                    max_num_seqs: seqs,
                };
                let multi = p.replicas > 1 || d.replicas > 1;
                let routers: &[RouterKind] = if multi {
                    &space.routers
                } else {
                    &[RouterKind::RoundRobin]
                };
                for &router in routers {
                    let c = Candidate {
                        index: 0,
                        gpu: gpu.to_owned(),
                        decode_gpu: decode_gpu.map(str::to_owned),
                        mode,
                        prefill: p,
                        decode: d,
                        knobs,
                        router,
                    };
                    if c.scenario(base, file, base_dir, 1).is_ok() {
                        out.push(c);
                    }
                }
            }
        }
    }
}

/// The model of the base scenario (catalog id, or a `config.json` relative to the
/// scenario's folder), as scenario validation resolves it.
fn resolve_model(base: &ScenarioFile, base_dir: &Path) -> Result<ModelArch, PlanError> {
    let id = &base.model.id;
    let r = if Path::new(id).is_relative() && !ModelArch::catalog_ids().contains(&id.as_str()) {
        base_dir.join(id).to_string_lossy().into_owned()
    } else {
        id.clone()
    };
    ModelArch::resolve(&r).map_err(|e| PlanError::Candidate {
        candidate: "model".into(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> ScenarioFile {
        let text = include_str!("../../../scenarios/seed-sglang-2p1d.toml");
        toml::from_str(text).expect("the seed scenario parses")
    }

    #[test]
    fn enumeration_is_ordered_and_fits() {
        let space = SearchSpace::default_for(vec!["l20".into()], 8);
        let f = Path::new("seed.toml");
        let a = enumerate(&base(), f, Path::new("."), &space).unwrap();
        let b = enumerate(&base(), f, Path::new("."), &space).unwrap();
        assert_eq!(a, b);
        assert!(!a.is_empty());
        for (i, c) in a.iter().enumerate() {
            assert_eq!(c.index, i);
            assert!(c.gpus() <= 8);
            // Qwen3-32B in bf16 does not fit one 48 GB L20.
            assert!(c.prefill.tp >= 2 && c.decode.tp >= 2);
            if c.prefill.replicas == 1 && c.decode.replicas == 1 {
                assert_eq!(c.router, RouterKind::RoundRobin);
            }
        }
        assert!(a.iter().any(|c| c.mode == Mode::Aggregated));
        assert!(a.iter().any(|c| c.mode == Mode::Disaggregated));
    }

    fn gpt_oss() -> ScenarioFile {
        let text = include_str!("../../../scenarios/gpt-oss-120b-pd-h200.toml");
        toml::from_str(text).expect("the gpt-oss scenario parses")
    }

    fn small(gpu: &str, gpus_max: u32) -> SearchSpace {
        let mut space = SearchSpace::default_for(vec![gpu.into()], gpus_max);
        space.tps = vec![1, 2];
        space.token_budgets = vec![8192];
        space.max_num_seqs = vec![1024];
        space.routers = vec![RouterKind::RoundRobin];
        space
    }

    #[test]
    fn splits_of_a_tp_degree() {
        let ds = ModelArch::builtin("deepseek-v3").unwrap();
        let on = SearchSpace {
            moe_splits: true,
            ..SearchSpace::default_for(vec!["h200".into()], 8)
        };
        assert_eq!(on.splits(&ds, 8, (1, 1)), vec![(1, 1), (1, 8), (8, 8)]);
        assert_eq!(on.splits(&ds, 1, (1, 1)), vec![(1, 1)]);
        // The scenario's own split comes last; an invalid one (3 does not divide 8) not at all.
        assert_eq!(
            on.splits(&ds, 8, (4, 8)),
            vec![(1, 1), (1, 8), (8, 8), (4, 8)]
        );
        assert_eq!(on.splits(&ds, 8, (3, 1)), vec![(1, 1), (1, 8), (8, 8)]);
        // Off: the scenario's split only (validation decides whether it builds).
        let off = SearchSpace::default_for(vec!["h200".into()], 8);
        assert_eq!(off.splits(&ds, 8, (4, 8)), vec![(4, 8)]);
        // A dense model is never split, even when asked.
        let dense = ModelArch::builtin("llama-3.1-8b").unwrap();
        assert_eq!(on.splits(&dense, 8, (1, 1)), vec![(1, 1)]);
        let resolved = off.clone().with_moe_splits(MoeSplits::Auto, &dense);
        assert!(!resolved.moe_splits);
        assert_eq!(format!("{resolved:?}"), format!("{off:?}"));
        assert!(!format!("{off:?}").contains("moe_splits"));
        assert!(format!("{on:?}").contains("moe_splits: true"));
        let moe = off.clone().with_moe_splits(MoeSplits::Auto, &ds);
        assert!(moe.moe_splits);
        assert!(!off.with_moe_splits(MoeSplits::TpOnly, &ds).moe_splits);
    }

    #[test]
    fn moe_models_try_each_tp_with_its_splits() {
        let base = gpt_oss();
        let f = Path::new("oss.toml");
        let arch = ModelArch::builtin("gpt-oss-120b").unwrap();
        let auto = small("h200", 4).with_moe_splits(MoeSplits::Auto, &arch);
        let tp_only = small("h200", 4).with_moe_splits(MoeSplits::TpOnly, &arch);
        let a = enumerate(&base, f, Path::new("."), &auto).unwrap();
        let t = enumerate(&base, f, Path::new("."), &tp_only).unwrap();
        assert_eq!(a, enumerate(&base, f, Path::new("."), &auto).unwrap());
        assert!(a.len() as u64 <= crate::planner::budget::count_candidates(&auto));
        assert!(
            t.iter()
                .all(|c| !c.prefill.is_split() && !c.decode.is_split())
        );
        let split = |c: &Candidate| (c.prefill.dp, c.prefill.ep, c.decode.dp, c.decode.ep);
        for want in [(1, 1, 1, 2), (1, 1, 2, 2), (2, 2, 2, 2), (1, 2, 1, 2)] {
            assert!(a.iter().any(|c| split(c) == want), "{want:?}");
        }
        for c in &a {
            for r in [c.prefill, c.decode] {
                let p = Parallelism {
                    gpus: r.tp,
                    dp: r.dp,
                    ep: r.ep,
                };
                p.check(&arch).unwrap();
            }
            // The candidate's scenario carries its split.
            let sc = c.scenario(&base, f, Path::new("."), 1).unwrap();
            assert_eq!(crate::describe::Shape::of(&sc.topology), c.shape());
        }
        // The unsplit candidates of the search are the TP-only list, in its order.
        let plain: Vec<Candidate> = a
            .iter()
            .filter(|c| !c.prefill.is_split() && !c.decode.is_split())
            .map(|c| Candidate {
                index: 0,
                ..c.clone()
            })
            .collect();
        let t0: Vec<Candidate> = t
            .iter()
            .map(|c| Candidate {
                index: 0,
                ..c.clone()
            })
            .collect();
        assert_eq!(plain, t0);
    }
}
