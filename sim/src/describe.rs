//! How a deployment and its step costs are named in outputs: the one [`Shape`] of a
//! deployment's roles (`2P1D, TP 2/4`, `3 x TP 2`) and the one [`CostProvenance`]
//! (`roofline`, `calibrated (builtin:h100)`).
//!
//! # Invariants
//!
//! - Every output that names a deployment writes it through [`Shape::written`] (or its
//!   `Display`), so a run, a sweep and a plan name the same deployment the same way.
//! - [`cost_provenance`] is the only place that decides which label a scenario's step
//!   costs get.

use crate::scenario::{Mode, Scenario, Topology};
use std::fmt;
use xpyd_models::{CostSource, StepShape};

/// Replicas, TP and the MoE split (DP-attention and expert-parallel ranks) of one role.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct RoleShape {
    /// Instances of the role.
    pub replicas: u32,
    /// Tensor-parallel degree of each instance: its GPUs.
    pub tp: u32,
    /// DP-attention ranks of each instance (1: attention split by TP over all GPUs).
    pub dp: u32,
    /// Expert-parallel ranks of each instance (1: no expert parallelism).
    pub ep: u32,
}

impl RoleShape {
    /// `replicas` instances of plain TP `tp` (`dp = ep = 1`).
    pub fn tp(replicas: u32, tp: u32) -> RoleShape {
        RoleShape {
            replicas,
            tp,
            dp: 1,
            ep: 1,
        }
    }

    /// GPUs the role uses.
    pub fn gpus(self) -> u32 {
        self.replicas * self.tp
    }

    /// Whether the role uses DP-attention or expert parallelism.
    pub fn is_split(self) -> bool {
        self.dp > 1 || self.ep > 1
    }
}

/// The roles of a deployment (or of a planner unit): what is written as `2P1D, TP 2/4`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Prefill and decode roles.
    Disaggregated {
        /// Prefill role.
        prefill: RoleShape,
        /// Decode role.
        decode: RoleShape,
    },
    /// One role doing both.
    Aggregated(RoleShape),
}

/// How [`Shape::written`] spells a shape.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Style {
    /// `2P1D, TP 2/4` and `3 x TP 2` (the `Display` form).
    Words,
    /// `2P1D TP 2/4` and `3 x TP 2` (table cells).
    Cell,
    /// `2P1D TP2/4` and `3x TP2` (labels; the alternate `{:#}` form).
    Compact,
}

impl Shape {
    /// The shape of a scenario's deployment.
    pub fn of(t: &Topology) -> Shape {
        let role = |r: &crate::scenario::RoleConfig| RoleShape {
            replicas: r.replicas,
            tp: r.tp,
            dp: r.dp,
            ep: r.ep,
        };
        match t {
            Topology::Disaggregated { prefill, decode } => Shape::Disaggregated {
                prefill: role(prefill),
                decode: role(decode),
            },
            Topology::Aggregated(r) => Shape::Aggregated(role(r)),
        }
    }

    /// The shape of `mode` with these roles (an aggregated one has only `prefill`).
    pub fn new(mode: Mode, prefill: RoleShape, decode: RoleShape) -> Shape {
        match mode {
            Mode::Disaggregated => Shape::Disaggregated { prefill, decode },
            Mode::Aggregated => Shape::Aggregated(prefill),
        }
    }

    /// The shape named by a mode as outputs write it (`aggregated`, else disaggregated).
    pub fn of_mode_name(mode: &str, prefill: RoleShape, decode: RoleShape) -> Shape {
        Shape::new(
            if mode == "aggregated" {
                Mode::Aggregated
            } else {
                Mode::Disaggregated
            },
            prefill,
            decode,
        )
    }

    /// The shape in words, in `style`. The MoE split follows the TP only where a role
    /// uses it (`DP` where a role has `dp > 1`, `EP` where one has `ep > 1`), so a plain
    /// TP deployment is written as it always was.
    pub fn written(self, style: Style) -> String {
        let (sep, gap) = match style {
            Style::Words => (", ", " "),
            Style::Cell => (" ", " "),
            Style::Compact => (" ", ""),
        };
        match self {
            Shape::Disaggregated {
                prefill: p,
                decode: d,
            } => {
                let mut s = format!(
                    "{}P{}D{sep}TP{gap}{}/{}",
                    p.replicas, d.replicas, p.tp, d.tp
                );
                if p.dp > 1 || d.dp > 1 {
                    s.push_str(&format!("{sep}DP{gap}{}/{}", p.dp, d.dp));
                }
                if p.ep > 1 || d.ep > 1 {
                    s.push_str(&format!("{sep}EP{gap}{}/{}", p.ep, d.ep));
                }
                s
            }
            Shape::Aggregated(r) => {
                let mut s = match style {
                    Style::Words | Style::Cell => format!("{} x TP {}", r.replicas, r.tp),
                    Style::Compact => format!("{}x TP{}", r.replicas, r.tp),
                };
                if r.dp > 1 {
                    s.push_str(&format!("{sep}DP{gap}{}", r.dp));
                }
                if r.ep > 1 {
                    s.push_str(&format!("{sep}EP{gap}{}", r.ep));
                }
                s
            }
        }
    }
}

impl fmt::Display for Shape {
    /// [`Style::Words`]; with `{:#}`, [`Style::Compact`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let style = if f.alternate() {
            Style::Compact
        } else {
            Style::Words
        };
        f.write_str(&self.written(style))
    }
}

/// Where step costs come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CostProvenance {
    /// The roofline only.
    Roofline,
    /// A calibration profile (where it covers a term), named by its origin when known.
    Calibrated {
        /// `builtin:h100`, a path.
        origin: Option<String>,
    },
}

impl CostProvenance {
    /// The provenance recorded as a profile origin (`assumptions.json`'s `profile`).
    pub fn of_profile(profile: Option<&str>) -> CostProvenance {
        match profile {
            Some(o) => CostProvenance::Calibrated {
                origin: Some(o.to_string()),
            },
            None => CostProvenance::Roofline,
        }
    }
}

impl fmt::Display for CostProvenance {
    /// `roofline`, `calibrated (ORIGIN)` or `calibrated`; with `{:#}`, the long form
    /// `calibrated where the profile covers a term (ORIGIN), roofline elsewhere`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self, f.alternate()) {
            (CostProvenance::Roofline, _) => f.write_str("roofline"),
            (CostProvenance::Calibrated { origin }, true) => write!(
                f,
                "calibrated where the profile covers a term ({}), roofline elsewhere",
                origin.as_deref().unwrap_or_default()
            ),
            (CostProvenance::Calibrated { origin: Some(o) }, false) => {
                write!(f, "calibrated ({o})")
            }
            (CostProvenance::Calibrated { origin: None }, false) => f.write_str("calibrated"),
        }
    }
}

/// Where the scenario's step costs come from: the source of a one-sequence decode step
/// on the decode role (the aggregated role), and the profile's origin.
pub fn cost_provenance(sc: &Scenario) -> CostProvenance {
    let role = match &sc.topology {
        Topology::Disaggregated { decode, .. } => decode,
        Topology::Aggregated(r) => r,
    };
    role_cost_provenance(sc, role)
}

/// Where `role`'s step costs come from (its GPU's profile, for a role on its own GPU).
pub fn role_cost_provenance(sc: &Scenario, role: &crate::scenario::RoleConfig) -> CostProvenance {
    let cm = sc.cost_model_for(role);
    let shape = StepShape {
        decode_seqs: 1,
        decode_context_tokens: 1024,
        ..StepShape::default()
    };
    match cm.step(&shape).source {
        CostSource::Calibrated => CostProvenance::Calibrated {
            origin: cm.profile_origin().map(str::to_string),
        },
        CostSource::Roofline => CostProvenance::Roofline,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_in_every_style() {
        let (p, d) = (RoleShape::tp(2, 2), RoleShape::tp(1, 4));
        let s = Shape::new(Mode::Disaggregated, p, d);
        assert_eq!(s.to_string(), "2P1D, TP 2/4");
        assert_eq!(format!("{s:#}"), "2P1D TP2/4");
        assert_eq!(s.written(Style::Cell), "2P1D TP 2/4");
        let a = Shape::of_mode_name("aggregated", p, d);
        assert_eq!(a.to_string(), "2 x TP 2");
        assert_eq!(format!("{a:#}"), "2x TP2");
        assert_eq!(a.written(Style::Cell), "2 x TP 2");
    }

    #[test]
    fn moe_splits_follow_the_tp_where_used() {
        let split = |replicas, tp, dp, ep| RoleShape {
            replicas,
            tp,
            dp,
            ep,
        };
        let s = Shape::new(Mode::Disaggregated, split(1, 8, 1, 8), split(2, 8, 8, 8));
        assert_eq!(s.to_string(), "1P2D, TP 8/8, DP 1/8, EP 8/8");
        assert_eq!(s.written(Style::Cell), "1P2D TP 8/8 DP 1/8 EP 8/8");
        assert_eq!(format!("{s:#}"), "1P2D TP8/8 DP1/8 EP8/8");
        let a = Shape::new(Mode::Aggregated, split(3, 8, 8, 8), split(3, 8, 8, 8));
        assert_eq!(a.to_string(), "3 x TP 8, DP 8, EP 8");
        assert_eq!(a.written(Style::Cell), "3 x TP 8 DP 8 EP 8");
        assert_eq!(format!("{a:#}"), "3x TP8 DP8 EP8");
        let e = Shape::new(Mode::Aggregated, split(1, 4, 1, 4), split(1, 4, 1, 4));
        assert_eq!(format!("{e:#}"), "1x TP4 EP4");
    }

    #[test]
    fn provenance_labels() {
        let c = |o: Option<&str>| CostProvenance::Calibrated {
            origin: o.map(str::to_string),
        };
        assert_eq!(CostProvenance::Roofline.to_string(), "roofline");
        assert_eq!(
            c(Some("builtin:h100")).to_string(),
            "calibrated (builtin:h100)"
        );
        assert_eq!(c(None).to_string(), "calibrated");
        assert_eq!(
            format!("{:#}", CostProvenance::of_profile(Some("p.json"))),
            "calibrated where the profile covers a term (p.json), roofline elsewhere"
        );
        assert_eq!(
            format!("{:#}", CostProvenance::of_profile(None)),
            "roofline"
        );
    }
}
