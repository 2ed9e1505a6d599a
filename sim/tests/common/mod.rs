//! Helpers shared by integration tests (each test crate uses what it needs).

pub(crate) mod availability;
