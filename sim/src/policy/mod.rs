//! Policies: decisions taken on read-only views of the cluster (routers, the PD decider,
//! autoscalers).
//!
//! Invariant: a policy never gets `&mut` access to simulator state; it returns a decision
//! that the engine applies.

pub mod autoscale;
pub(crate) mod pd_decider;

crate::internal_modules! {
    router;
}
