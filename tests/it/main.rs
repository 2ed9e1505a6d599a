//! Integration tests of the `xpyd` CLI and end-to-end behaviour.

mod aiconfigurator;
mod autoscaling;
mod bench;
mod cli_errors;
mod clients;
mod cold_start;
mod common;
mod determinism;
mod engine_layer;
mod failures;
mod fp8_kv;
mod fuzz;
mod hostile_bounds;
mod hostile_embed;
mod intervals;
mod plan;
mod plan_confidence;
mod plan_shard;
mod regression;
mod reports;
mod routing;
mod scenarios;
mod static_binary;
mod telemetry;
mod trtllm;
mod validation;
