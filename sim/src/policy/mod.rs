//! Policies: decisions taken on read-only views of the cluster (routers).
//!
//! Invariant: a policy never gets `&mut` access to simulator state; it returns a decision
//! that the engine applies.

pub mod autoscale;
pub mod router;
