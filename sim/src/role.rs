//! What an instance is for: the one role enum of deployments, instances and the planner.

/// A role of a deployment and of each of its instances.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Prefill only (PD); the prompt's KV then moves to a decode instance.
    Prefill,
    /// Decode (PD); also prefills what it must recompute, and local prefills a PD
    /// decider keeps there.
    Decode,
    /// Aggregated: prefill and decode on the same instance.
    Aggregated,
}

impl Role {
    /// Name used in outputs and scenario paths (`deployment.<name>`).
    pub fn name(self) -> &'static str {
        match self {
            Role::Prefill => "prefill",
            Role::Decode => "decode",
            Role::Aggregated => "aggregated",
        }
    }
}
