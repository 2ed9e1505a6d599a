//! `summary.json` (written from a run and read back by the run report through the same
//! types) and the human summary printed by `xpyd run`.
//!
//! Invariant: the JSON holds no wall-clock or host-dependent value, so it is
//! byte-identical for the same scenario and seed.

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use xpyd_sim::RunOutput;
use xpyd_sim::describe::{RoleShape, Shape, cost_provenance, role_cost_provenance};
use xpyd_sim::interval::{Interval, LatencyIntervals, RunIntervals};
use xpyd_sim::metrics::{Distribution, Metrics, RequestCounts, SloResult, Throughput};
use xpyd_sim::scenario::{RoleConfig, Scenario, Topology};

/// Replicas and TP of a role.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RoleSummary {
    /// Instances.
    pub replicas: u32,
    /// TP degree: GPUs per instance.
    pub tp: u32,
    /// DP-attention ranks (written when above 1).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub dp: u32,
    /// Expert-parallel ranks (written when above 1).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub ep: u32,
    /// Router.
    pub router: String,
    /// KV capacity per instance, tokens.
    pub kv_capacity_tokens: u64,
    /// Weights per GPU, GiB.
    pub weights_gib_per_gpu: f64,
    /// The role's own GPU type, written only when it differs from the scenario's
    /// `[hardware]` (heterogeneous PD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<String>,
    /// The price of the role's own GPU-hour, USD, when it has its own GPU and a price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_hour_usd: Option<f64>,
}

fn one() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

impl RoleSummary {
    /// `DP-attention D, EP E` when the role uses either, else `None`.
    fn split(&self) -> Option<String> {
        (self.dp > 1 || self.ep > 1).then(|| format!("DP-attention {}, EP {}", self.dp, self.ep))
    }

    /// Replicas and TP (the split is written apart, by `split`).
    pub fn shape(&self) -> RoleShape {
        RoleShape::tp(self.replicas, self.tp)
    }

    fn of(r: &RoleConfig) -> RoleSummary {
        RoleSummary {
            replicas: r.replicas,
            tp: r.tp,
            dp: r.dp,
            ep: r.ep,
            router: r.router.name().to_string(),
            kv_capacity_tokens: r.memory.kv_capacity_tokens,
            weights_gib_per_gpu: round(r.memory.weight_bytes_per_gpu / (1u64 << 30) as f64, 3),
            gpu: r.hardware.as_ref().map(|h| h.gpu.id.clone()),
            gpu_hour_usd: r.hardware.as_ref().and_then(|h| h.gpu_hour_usd),
        }
    }
}

/// The metrics of one simulated system.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SystemSummary {
    /// GPUs used.
    pub gpus: u32,
    /// Request counts.
    pub requests: RequestCounts,
    /// TTFT, ms.
    pub ttft_ms: Distribution,
    /// TPOT, ms.
    pub tpot_ms: Distribution,
    /// ITL, ms.
    pub itl_ms: Distribution,
    /// E2E, ms.
    pub e2e_ms: Distribution,
    /// Queueing before prefill, ms.
    pub queue_ms: Distribution,
    /// KV transfer, ms.
    pub kv_transfer_ms: Distribution,
    /// Rates.
    pub throughput: Throughput,
    /// SLOs.
    pub slo: SloResult,
    /// Time of the last completion, s.
    pub makespan_s: f64,
    /// GPU-hours over the makespan.
    pub gpu_hours: f64,
    /// Dollars over the makespan (with a GPU price).
    pub cost_usd: Option<f64>,
    /// Preemptions.
    pub preemptions: u64,
    /// KV moved between instances, GB.
    pub kv_transfer_gb: f64,
    /// Prefix caching: hit rate overall and per instance.
    pub prefix_cache: PrefixCacheSummary,
    /// Events simulated.
    pub events: u64,
    /// Hash of the event sequence (hex).
    pub event_trace_hash: String,
}

impl SystemSummary {
    /// Summarise one run of the system whose roles are `roles` (in the run's order).
    pub fn of(sc: &Scenario, roles: &[&RoleConfig], out: &RunOutput) -> SystemSummary {
        let Metrics {
            requests,
            ttft_ms,
            tpot_ms,
            itl_ms,
            e2e_ms,
            queue_ms,
            kv_transfer_ms,
            throughput,
            slo,
            makespan_s,
            preemptions,
        } = out.metrics.clone();
        let gpu_hours = out.gpu_seconds / 3600.0;
        let cost_usd = if let Some(split) = SpotSummary::of(sc, roles, out) {
            split.cost_usd()
        } else if roles.iter().all(|r| r.hardware.is_none()) {
            sc.gpu_hour_usd.map(|p| p * gpu_hours)
        } else {
            // Heterogeneous PD: each role's GPU-hours at its GPU's price (none unless
            // every role is priced).
            roles
                .iter()
                .zip(&out.gpu_seconds_by_role)
                .map(|(r, s)| sc.gpu_hour_usd_of(r).map(|p| p * s / 3600.0))
                .sum::<Option<f64>>()
        };
        SystemSummary {
            gpus: out.gpus,
            requests,
            ttft_ms,
            tpot_ms,
            itl_ms,
            e2e_ms,
            queue_ms,
            kv_transfer_ms,
            throughput,
            slo,
            makespan_s,
            gpu_hours,
            cost_usd,
            preemptions,
            kv_transfer_gb: out.kv_bytes_moved / 1e9,
            prefix_cache: PrefixCacheSummary::of(out),
            events: out.events,
            event_trace_hash: format!("{:016x}", out.trace_hash),
        }
    }
}

/// Prefix-cache effect of one run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PrefixCacheSummary {
    /// Prompt tokens found cached at prefill admission / prompt tokens looked up, over
    /// every instance that computes prompts.
    pub hit_rate: f64,
    /// Prompt tokens served from a cache.
    pub hit_tokens: u64,
    /// Prompt tokens looked up.
    pub lookup_tokens: u64,
    /// Prompt tokens not transferred because the decode instance held them (PD).
    pub transfer_skipped_tokens: u64,
    /// Per instance: `(instance, role, hit_rate)` for instances that computed prompts.
    pub per_instance: Vec<InstanceHitRate>,
}

/// Hit rate of one instance.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InstanceHitRate {
    /// Instance index.
    pub instance: u16,
    /// Its role.
    pub role: String,
    /// Its hit rate.
    pub hit_rate: f64,
    /// Prompt tokens it looked up.
    pub lookup_tokens: u64,
}

impl PrefixCacheSummary {
    fn of(out: &RunOutput) -> PrefixCacheSummary {
        let hit: u64 = out.instances.iter().map(|i| i.prefix_hit_tokens).sum();
        let lookup: u64 = out.instances.iter().map(|i| i.prefix_lookup_tokens).sum();
        PrefixCacheSummary {
            hit_rate: if lookup == 0 {
                0.0
            } else {
                hit as f64 / lookup as f64
            },
            hit_tokens: hit,
            lookup_tokens: lookup,
            transfer_skipped_tokens: out.transfer_skipped_tokens,
            per_instance: out
                .instances
                .iter()
                .filter(|i| i.prefix_lookup_tokens > 0)
                .map(|i| InstanceHitRate {
                    instance: i.instance,
                    role: i.role.to_string(),
                    hit_rate: i.prefix_hit_rate,
                    lookup_tokens: i.prefix_lookup_tokens,
                })
                .collect(),
        }
    }
}

/// Everything `summary.json` holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Summary {
    /// Scenario name.
    pub scenario: String,
    /// Seed.
    pub seed: u64,
    /// `disaggregated` or `aggregated`.
    pub mode: String,
    /// `sglang`, `vllm` or `dynamo`.
    pub backend: String,
    /// Model id.
    pub model: String,
    /// GPU id.
    pub gpu: String,
    /// Prefill role (the aggregated role when aggregated).
    pub prefill: RoleSummary,
    /// Decode role (the aggregated role when aggregated).
    pub decode: RoleSummary,
    /// Where step costs come from (`roofline` or `calibrated`).
    pub cost_source: String,
    /// The engine layer above the kernels (`builtin:vllm/h100`, a file, `none ...`);
    /// empty in summaries written before it existed.
    #[serde(default)]
    pub engine_layer: String,
    /// Speculative decoding in words (`mtp, 3 draft tokens, acceptance 0.8: 2.95 tokens
    /// per step`), when the scenario has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speculative: Option<String>,
    /// The workload, in words.
    pub workload: String,
    /// Metrics of the deployment, flattened to the top level.
    #[serde(flatten)]
    pub system: SystemSummary,
    /// The aggregated baseline on the same GPUs.
    pub baseline_aggregated: Option<BaselineSummary>,
    /// The deployment's replica starts phase by phase (only with the cold-start storage
    /// model, `cold-start.mount` or `preset`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold_starts: Option<ColdStartSummary>,
    /// What GPU and node failures did (only with `[failures]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failures: Option<FailureSummary>,
    /// Spot capacity: reclaims, GPU-hours and cost split spot / on-demand (only with
    /// `[spot]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spot: Option<SpotSummary>,
    /// The deployment's headline figures with their intervals, `{value, lo, hi, level}`
    /// (absent with `--intervals off` and in summaries written before they existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intervals: Option<RunIntervals>,
}

/// GPU-hours and cost of a run with `[spot]`, split spot / on-demand.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SpotSummary {
    /// Spot instances reclaimed.
    pub preemptions: u64,
    /// GPU-hours of spot instances.
    pub spot_gpu_hours: f64,
    /// GPU-hours of on-demand instances.
    pub on_demand_gpu_hours: f64,
    /// Spot GPU-hours at `spot.gpu-hour-usd` (default: the on-demand price), USD.
    pub spot_cost_usd: Option<f64>,
    /// On-demand GPU-hours at each role's price, USD.
    pub on_demand_cost_usd: Option<f64>,
}

impl SpotSummary {
    /// The split of `out`, a run of the system whose roles are `roles` (`None` without
    /// `[spot]`).
    pub fn of(sc: &Scenario, roles: &[&RoleConfig], out: &RunOutput) -> Option<SpotSummary> {
        let spot_cfg = sc.spot.as_ref()?;
        if out.spot_gpu_seconds_by_role.len() != roles.len() {
            return None;
        }
        let mut split = SpotSummary {
            preemptions: out.failures.as_ref().map_or(0, |f| f.preemptions),
            spot_gpu_hours: 0.0,
            on_demand_gpu_hours: 0.0,
            spot_cost_usd: Some(0.0),
            on_demand_cost_usd: Some(0.0),
        };
        for ((r, all), spot) in roles
            .iter()
            .zip(&out.gpu_seconds_by_role)
            .zip(&out.spot_gpu_seconds_by_role)
        {
            let (spot_h, od_h) = (spot / 3600.0, (all - spot) / 3600.0);
            split.spot_gpu_hours += spot_h;
            split.on_demand_gpu_hours += od_h;
            let price = sc.gpu_hour_usd_of(r);
            let spot_price = spot_cfg.gpu_hour_usd.or(price);
            split.on_demand_cost_usd = split
                .on_demand_cost_usd
                .zip(price)
                .map(|(c, p)| c + p * od_h);
            split.spot_cost_usd = split
                .spot_cost_usd
                .zip(spot_price)
                .map(|(c, p)| c + p * spot_h);
        }
        Some(split)
    }

    /// The run's cost: both parts (none unless both are priced).
    pub fn cost_usd(&self) -> Option<f64> {
        Some(self.on_demand_cost_usd? + self.spot_cost_usd?)
    }

    /// The human summary's lines.
    pub fn to_text(&self) -> String {
        let usd = |c: Option<f64>| c.map_or("unpriced".to_string(), |c| format!("${c:.2}"));
        format!(
            "spot: {} preemptions; GPU-hours spot {:.3} ({}), on-demand {:.3} ({})\n",
            self.preemptions,
            self.spot_gpu_hours,
            usd(self.spot_cost_usd),
            self.on_demand_gpu_hours,
            usd(self.on_demand_cost_usd)
        )
    }
}

/// Failures of a run with `[failures]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FailureSummary {
    /// Instances that failed (a node failure counts each instance on it).
    pub instance_failures: u64,
    /// Node failures.
    pub node_failures: u64,
    /// Requests in flight on a failed instance (also in `requests.lost`).
    pub lost: u64,
    /// Retries of requests lost to a failure (`failures.retries`), each retry counted.
    pub retries: u64,
    /// Spot instances reclaimed (only with `[spot]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preemptions: Option<u64>,
    /// Per role: failures and availability.
    pub roles: Vec<RoleAvailabilityRow>,
    /// Every failure and spot reclaim of an instance, in time order.
    #[serde(default)]
    pub events: Vec<FailureEventRow>,
}

/// One instance failing or being reclaimed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FailureEventRow {
    /// When, s (rounded to the microsecond).
    pub time_s: f64,
    /// The instance.
    pub instance: u16,
    /// Its role.
    pub role: String,
    /// `failed` or `preempted` (a spot reclaim).
    pub kind: String,
}

/// One role's failures and availability.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RoleAvailabilityRow {
    /// The role.
    pub role: String,
    /// Its instances that failed.
    pub failures: u64,
    /// Its spot instances reclaimed (only with `[spot]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preemptions: Option<u64>,
    /// Time one of its replacements was starting, s (rounded to the millisecond).
    pub down_s: f64,
    /// Fraction of the run with every replica its controllers wanted serving (6 digits).
    pub availability: f64,
}

impl FailureSummary {
    /// The failures of `out` (`None` without `[failures]`).
    pub fn of(out: &RunOutput) -> Option<FailureSummary> {
        let f = out.failures.as_ref()?;
        let spot = !out.spot_gpu_seconds_by_role.is_empty();
        Some(FailureSummary {
            instance_failures: f.instance_failures,
            node_failures: f.node_failures,
            lost: out.metrics.requests.lost.unwrap_or(0),
            retries: f.retries,
            preemptions: spot.then_some(f.preemptions),
            roles: f
                .roles
                .iter()
                .map(|r| RoleAvailabilityRow {
                    role: r.role.to_string(),
                    failures: r.failures,
                    preemptions: spot.then_some(r.preemptions),
                    down_s: round(r.down_s, 3),
                    availability: round(r.availability, 6),
                })
                .collect(),
            events: out
                .scale_events
                .iter()
                .filter(|e| matches!(e.state, "failed" | "preempted"))
                .map(|e| FailureEventRow {
                    time_s: round(e.time_s, 6),
                    instance: e.instance,
                    role: e.role.to_string(),
                    kind: e.state.to_string(),
                })
                .collect(),
        })
    }

    /// The human summary's lines.
    pub fn to_text(&self) -> String {
        let spot = self
            .preemptions
            .map_or(String::new(), |p| format!(", {p} spot preemptions"));
        let mut t = format!(
            "failures: {} instances failed ({} node failures){spot}, {} requests lost, {} retries\n",
            self.instance_failures, self.node_failures, self.lost, self.retries
        );
        for r in &self.roles {
            let spot = r
                .preemptions
                .map_or(String::new(), |p| format!(", {p} preempted"));
            let _ = writeln!(
                t,
                "  {}: {} failed{spot}, replacements starting {:.1} s, availability {:.3}%",
                r.role,
                r.failures,
                r.down_s,
                r.availability * 100.0
            );
        }
        t
    }
}

/// Replica starts under the cold-start storage model.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ColdStartSummary {
    /// The model in words (`preset fluid-cache: mount distributed-cache, ...`).
    pub model: String,
    /// Every start that completed, in the order the replicas became ready.
    pub replicas: Vec<ColdStartRow>,
}

/// One replica start, seconds (rounded to the millisecond).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ColdStartRow {
    /// The instance.
    pub instance: u16,
    /// Its role.
    pub role: String,
    /// Its node.
    pub node: u32,
    /// When it was started, s.
    pub requested_s: f64,
    /// Scheduling, s.
    pub scheduling_s: f64,
    /// Image pull, s.
    pub image_pull_s: f64,
    /// Waiting for the distributed cache's warm-up, s.
    pub cache_warmup_s: f64,
    /// Fetch into host memory, s.
    pub fetch_s: f64,
    /// Tensor load host -> GPU, s.
    pub tensor_load_s: f64,
    /// Weight load in all (cache warm-up + fetch + tensor load), s.
    pub load_s: f64,
    /// Engine warm-up, s.
    pub warmup_s: f64,
    /// When it became ready, s.
    pub ready_s: f64,
    /// From start to ready, s.
    pub total_s: f64,
}

impl ColdStartSummary {
    /// The starts of `out` under the storage model of `sc` (`None` without one).
    pub fn of(sc: &Scenario, out: &RunOutput) -> Option<ColdStartSummary> {
        let m = sc.cold_start.storage.as_ref()?;
        let mut model = match m.preset {
            Some(p) => format!("preset {}: mount {}", p.name(), m.mount.kind().name()),
            None => format!("mount {}", m.mount.kind().name()),
        };
        let _ = write!(
            model,
            ", client {} GB/s, store {} Gbit/s x {:.4}",
            m.client_gb_s, sc.cold_start.storage_gbit_s, m.network_efficiency
        );
        if let xpyd_sim::scenario::Mount::DistributedCache {
            workers,
            worker_gbit_s,
        } = m.mount
        {
            let _ = write!(model, ", {workers} cache workers x {worker_gbit_s} Gbit/s");
        }
        let _ = write!(
            model,
            ", tensor load min({}, {}) GB/s per GPU",
            m.tensor_load_gb_s_per_gpu, m.pcie_gb_s_per_gpu
        );
        let r3 = |x: f64| round(x, 3);
        let replicas = out
            .cold_starts
            .iter()
            .map(|c| ColdStartRow {
                instance: c.instance,
                role: c.role.to_string(),
                node: c.node,
                requested_s: r3(c.requested_s),
                scheduling_s: r3(c.scheduling_s),
                image_pull_s: r3(c.image_pull_s),
                cache_warmup_s: r3(c.cache_warmup_s),
                fetch_s: r3(c.fetch_s),
                tensor_load_s: r3(c.tensor_load_s),
                load_s: r3(c.load_s()),
                warmup_s: r3(c.warmup_s),
                ready_s: r3(c.ready_s),
                total_s: r3(c.total_s()),
            })
            .collect();
        Some(ColdStartSummary { model, replicas })
    }

    /// The table `xpyd run` prints.
    pub fn to_text(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(t, "cold starts ({}):", self.model);
        if self.replicas.is_empty() {
            let _ = writeln!(t, "  none completed");
            return t;
        }
        let _ = writeln!(
            t,
            "{:>9} {:>10} {:>5} {:>8} {:>8} {:>8} {:>9} {:>8} {:>9} {:>8} {:>9} {:>8} {:>8}",
            "instance",
            "role",
            "node",
            "start s",
            "sched s",
            "pull s",
            "cache s",
            "fetch s",
            "tensor s",
            "load s",
            "warmup s",
            "ready s",
            "total s"
        );
        for r in &self.replicas {
            let _ = writeln!(
                t,
                "{:>9} {:>10} {:>5} {:>8.1} {:>8.1} {:>8.1} {:>9.1} {:>8.1} {:>9.1} {:>8.1} {:>9.1} {:>8.1} {:>8.1}",
                r.instance,
                r.role,
                r.node,
                r.requested_s,
                r.scheduling_s,
                r.image_pull_s,
                r.cache_warmup_s,
                r.fetch_s,
                r.tensor_load_s,
                r.load_s,
                r.warmup_s,
                r.ready_s,
                r.total_s
            );
        }
        t
    }
}

/// The baseline and its deployment.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BaselineSummary {
    /// Its one role.
    pub aggregated: RoleSummary,
    /// Its metrics.
    #[serde(flatten)]
    pub system: SystemSummary,
}

impl Summary {
    /// Build the summary of a run and its optional baseline.
    pub fn new(sc: &Scenario, main: &RunOutput, baseline: Option<&RunOutput>) -> Summary {
        let (mode, prefill, decode) = match &sc.topology {
            Topology::Disaggregated { prefill, decode } => (
                "disaggregated",
                RoleSummary::of(prefill),
                RoleSummary::of(decode),
            ),
            Topology::Aggregated(r) => ("aggregated", RoleSummary::of(r), RoleSummary::of(r)),
        };
        let baseline_aggregated = match (&sc.baseline, baseline) {
            (Some(role), Some(out)) => Some(BaselineSummary {
                aggregated: RoleSummary::of(role),
                system: SystemSummary::of(sc, &[role], out),
            }),
            _ => None,
        };
        Summary {
            scenario: sc.name.clone(),
            seed: sc.seed,
            mode: mode.to_string(),
            backend: sc.backend.name().to_string(),
            model: sc.model.id.clone(),
            gpu: sc.gpu.id.clone(),
            prefill,
            decode,
            cost_source: match &sc.topology {
                Topology::Disaggregated { prefill, decode } if sc.is_heterogeneous() => format!(
                    "prefill on {}: {}; decode on {}: {}",
                    sc.gpu_of(prefill).id,
                    role_cost_provenance(sc, prefill),
                    sc.gpu_of(decode).id,
                    role_cost_provenance(sc, decode)
                ),
                _ => cost_provenance(sc).to_string(),
            },
            engine_layer: match &sc.topology {
                Topology::Disaggregated { prefill, decode } if sc.is_heterogeneous() => format!(
                    "prefill {}; decode {}",
                    sc.engine_layer_of(prefill).origin,
                    sc.engine_layer_of(decode).origin
                ),
                _ => sc.engine_layer.origin.clone(),
            },
            speculative: sc.speculative.map(|s| {
                format!(
                    "{}, {} draft tokens, acceptance {}: {:.2} tokens per step",
                    match s.method {
                        xpyd_sim::scenario::SpeculativeMethod::Mtp => "mtp",
                        xpyd_sim::scenario::SpeculativeMethod::Eagle => "eagle",
                    },
                    s.cost.draft_tokens,
                    acceptance_text(s.cost.acceptance()),
                    s.cost.tokens_per_step()
                )
            }),
            workload: sc.workload.describe(),
            system: SystemSummary::of(
                sc,
                &match &sc.topology {
                    Topology::Disaggregated { prefill, decode } => vec![prefill, decode],
                    Topology::Aggregated(r) => vec![r],
                },
                main,
            ),
            baseline_aggregated,
            cold_starts: ColdStartSummary::of(sc, main),
            failures: FailureSummary::of(main),
            spot: {
                let roles: Vec<&RoleConfig> = match &sc.topology {
                    Topology::Disaggregated { prefill, decode } => vec![prefill, decode],
                    Topology::Aggregated(r) => vec![r],
                };
                SpotSummary::of(sc, &roles, main)
            },
            intervals: None,
        }
    }

    /// The deployment's roles.
    pub fn shape(&self) -> Shape {
        Shape::of_mode_name(&self.mode, self.prefill.shape(), self.decode.shape())
    }

    /// The deployment in words with its routers (`2P1D, TP 2/4, routers a/b`).
    pub fn deployment(&self) -> String {
        let shape = self.shape();
        match shape {
            Shape::Disaggregated { .. } => format!(
                "{shape}, routers {}/{}",
                self.prefill.router, self.decode.router
            ),
            Shape::Aggregated(_) => format!("{shape}, router {}", self.prefill.router),
        }
    }

    /// Pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("summary serialises");
        s.push('\n');
        s
    }

    /// The human summary: deployment, key metrics, PD vs aggregated side by side.
    pub fn to_text(&self) -> String {
        let mut t = String::new();
        let deploy = self.shape();
        let split = match deploy {
            Shape::Aggregated(_) => self.prefill.split().map(|s| format!(" ({s})")),
            Shape::Disaggregated { .. } => match (self.prefill.split(), self.decode.split()) {
                (None, None) => None,
                (p, d) => Some(format!(
                    " (prefill {}; decode {})",
                    p.unwrap_or_else(|| "TP".into()),
                    d.unwrap_or_else(|| "TP".into())
                )),
            },
        };
        // Heterogeneous PD: each role's GPUs, e.g. `4 x h200 (prefill) + 2 x h20 (decode)`.
        let on = if self.prefill.gpu.is_some() || self.decode.gpu.is_some() {
            let role = |r: &RoleSummary, name: &str| {
                format!(
                    "{} x {} ({name})",
                    r.replicas * r.tp,
                    r.gpu.as_deref().unwrap_or(&self.gpu)
                )
            };
            format!(
                "{} + {}",
                role(&self.prefill, "prefill"),
                role(&self.decode, "decode")
            )
        } else {
            format!("{} x {}", self.system.gpus, self.gpu)
        };
        let _ = writeln!(
            t,
            "xpyd: {} (seed {}): {} on {}, {} {}, {}{}",
            self.scenario,
            self.seed,
            self.model,
            on,
            self.backend,
            self.mode,
            deploy,
            split.unwrap_or_default()
        );
        let _ = writeln!(t, "workload: {}", self.workload);
        let _ = writeln!(t, "step costs: {}", self.cost_source);
        let _ = writeln!(t, "engine layer: {}", self.engine_layer);
        if let Some(s) = &self.speculative {
            let _ = writeln!(t, "speculative decoding: {s}");
        }
        let _ = writeln!(t);
        let mut cols: Vec<(String, &SystemSummary)> = vec![(self.mode.to_string(), &self.system)];
        if let Some(b) = &self.baseline_aggregated {
            cols.push((
                format!("aggregated {:#}", Shape::Aggregated(b.aggregated.shape())),
                &b.system,
            ));
        }
        let _ = write!(t, "{:<32}", "");
        for (name, _) in &cols {
            let _ = write!(t, "{name:>24}");
        }
        let _ = writeln!(t);
        let row = |t: &mut String, label: &str, f: &dyn Fn(&SystemSummary) -> String| {
            let _ = write!(t, "{label:<32}");
            for (_, s) in &cols {
                let _ = write!(t, "{:>24}", f(s));
            }
            let _ = writeln!(t);
        };
        // A distribution without samples (nothing completed) prints "-", never 0 ms.
        let dist = |d: &Distribution| match d.count {
            0 => "-".to_owned(),
            _ => format!("{:.0} / {:.0} / {:.0}", d.p50, d.p90, d.p99),
        };
        let dist1 = |d: &Distribution| match d.count {
            0 => "-".to_owned(),
            _ => format!("{:.1} / {:.1} / {:.1}", d.p50, d.p90, d.p99),
        };
        row(&mut t, "TTFT ms p50 / p90 / p99", &|s| dist(&s.ttft_ms));
        row(&mut t, "TPOT ms p50 / p90 / p99", &|s| dist1(&s.tpot_ms));
        row(&mut t, "ITL ms p50 / p90 / p99", &|s| dist1(&s.itl_ms));
        row(&mut t, "E2E ms p50 / p90 / p99", &|s| dist(&s.e2e_ms));
        row(&mut t, "KV transfer ms p50 / p99", &|s| {
            if s.kv_transfer_ms.count == 0 {
                "-".into()
            } else {
                format!("{:.1} / {:.1}", s.kv_transfer_ms.p50, s.kv_transfer_ms.p99)
            }
        });
        row(&mut t, "throughput req/s", &|s| {
            format!("{:.2}", s.throughput.requests_per_s)
        });
        row(&mut t, "output tok/s (per GPU)", &|s| {
            format!(
                "{:.0} ({:.0})",
                s.throughput.output_tokens_per_s, s.throughput.output_tokens_per_s_per_gpu
            )
        });
        let slo = &self.system.slo;
        row(
            &mut t,
            &format!(
                "SLO attainment (TTFT<={:.0}ms, TPOT<={:.0}ms)",
                slo.ttft_ms, slo.tpot_ms
            ),
            &|s| format!("{:.1}%", s.slo.attainment * 100.0),
        );
        row(&mut t, "goodput req/s", &|s| {
            format!("{:.2}", s.slo.goodput_requests_per_s)
        });
        row(&mut t, &format!("SLO met at p{}", slo.percentile), &|s| {
            (if s.slo.met { "yes" } else { "no" }).to_string()
        });
        row(&mut t, "completed / rejected / unfinished", &|s| {
            format!(
                "{} / {} / {}",
                s.requests.completed, s.requests.rejected, s.requests.unfinished
            )
        });
        if self.system.requests.timed_out.is_some() {
            row(&mut t, "timed out (share of arrived)", &|s| {
                format!(
                    "{} ({:.1}%)",
                    s.requests.timed_out.unwrap_or(0),
                    s.requests.timed_out_fraction.unwrap_or(0.0) * 100.0
                )
            });
        }
        if self.system.requests.lost.is_some() {
            row(
                &mut t,
                "lost on failed instances (share of arrived)",
                &|s| {
                    let lost = s.requests.lost.unwrap_or(0);
                    format!(
                        "{lost} ({:.1}%)",
                        lost as f64 / s.requests.arrived.max(1) as f64 * 100.0
                    )
                },
            );
        }
        if self.system.requests.not_arrived > 0 {
            row(&mut t, "not arrived by simulation.max-duration-s", &|s| {
                s.requests.not_arrived.to_string()
            });
        }
        if self.system.requests.warmup > 0 {
            row(&mut t, "warm-up requests (not measured)", &|s| {
                s.requests.warmup.to_string()
            });
        }
        row(&mut t, "preemptions", &|s| s.preemptions.to_string());
        if self.system.prefix_cache.lookup_tokens > 0 {
            row(&mut t, "prefix cache hit rate", &|s| {
                format!("{:.1}%", s.prefix_cache.hit_rate * 100.0)
            });
        }
        if self.system.cost_usd.is_some() {
            row(&mut t, "cost USD (makespan)", &|s| {
                format!("{:.2}", s.cost_usd.unwrap_or(0.0))
            });
        }
        if let Some(i) = &self.intervals {
            let _ = writeln!(t);
            t.push_str(&intervals_text(i));
        }
        if let Some(f) = &self.failures {
            let _ = writeln!(t);
            t.push_str(&f.to_text());
        }
        if let Some(s) = &self.spot {
            t.push_str(&s.to_text());
        }
        if let Some(c) = &self.cold_starts {
            let _ = writeln!(t);
            t.push_str(&c.to_text());
        }
        t
    }
}

/// The intervals block of the human summary: one line per figure, `value [lo, hi]`.
pub fn intervals_text(i: &RunIntervals) -> String {
    let mut t = String::new();
    let seeds = match i.replications {
        1 => "no seed replications".to_owned(),
        n => format!("{n} seed replications"),
    };
    let model = match &i.model_error {
        Some(m) => format!(
            "engine-model error of {} ({} / {} / {} measured runs for TTFT / TPOT / E2E, {})",
            m.group, m.rows[0], m.rows[1], m.rows[2], m.source
        ),
        None => "no engine-model error".to_owned(),
    };
    let _ = writeln!(
        t,
        "{:.0}% intervals of the deployment's figures ({seeds}; {model}):",
        i.level * 100.0
    );
    if let Some(why) = &i.model_error_note {
        let _ = writeln!(t, "  model error not included: {why}");
    }
    let fmt = |x: &Interval, digits: usize| {
        format!("{:.d$} [{:.d$}, {:.d$}]", x.value, x.lo, x.hi, d = digits)
    };
    let lat = |t: &mut String, label: &str, l: &Option<LatencyIntervals>, digits: usize| {
        let cell = l.as_ref().map_or_else(
            || "-".to_owned(),
            |l| {
                format!(
                    "{} / {} / {}",
                    fmt(&l.p50, digits),
                    fmt(&l.p90, digits),
                    fmt(&l.p99, digits)
                )
            },
        );
        let _ = writeln!(t, "  {label:<30}{cell}");
    };
    lat(&mut t, "TTFT ms p50 / p90 / p99", &i.ttft_ms, 0);
    lat(&mut t, "TPOT ms p50 / p90 / p99", &i.tpot_ms, 1);
    lat(&mut t, "ITL ms p50 / p90 / p99", &i.itl_ms, 1);
    lat(&mut t, "E2E ms p50 / p90 / p99", &i.e2e_ms, 0);
    let _ = writeln!(
        t,
        "  {:<30}{}",
        "throughput req/s",
        fmt(&i.throughput.requests_per_s, 2)
    );
    let _ = writeln!(
        t,
        "  {:<30}{} ({} per GPU)",
        "output tok/s",
        fmt(&i.throughput.output_tokens_per_s, 0),
        fmt(&i.throughput.output_tokens_per_s_per_gpu, 0)
    );
    let a = &i.slo.attainment;
    let _ = writeln!(
        t,
        "  {:<30}{:.1}% [{:.1}%, {:.1}%]",
        "SLO attainment",
        a.value * 100.0,
        a.lo * 100.0,
        a.hi * 100.0
    );
    let _ = writeln!(
        t,
        "  {:<30}{}",
        "goodput req/s",
        fmt(&i.slo.goodput_requests_per_s, 2)
    );
    for n in &i.notes {
        let _ = writeln!(t, "  note: {n}");
    }
    t
}

fn round(x: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (x * m).round() / m
}

/// Speculative acceptance as a summary shows it: one rate when every position has it,
/// else the list.
fn acceptance_text(rates: &[f64]) -> String {
    match rates {
        [first, rest @ ..] if rest.iter().all(|a| a == first) => format!("{first}"),
        _ => format!(
            "[{}]",
            rates
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use xpyd_sim::System;

    /// `summary.json` reads back through the types that wrote it, to the same bytes.
    #[test]
    fn summary_json_reads_back_through_its_schema() {
        let text = include_str!("../../scenarios/seed-sglang-2p1d.toml");
        let sc = Scenario::from_text(
            Path::new("s.toml"),
            Path::new("."),
            text,
            &["workload.requests=40".to_string()],
        )
        .unwrap();
        let main = xpyd_sim::run(&sc, System::Main, &mut |_| {}).unwrap();
        let base = xpyd_sim::run(&sc, System::Baseline, &mut |_| {}).unwrap();
        let s = Summary::new(&sc, &main, Some(&base));
        let json = s.to_json();
        let back: Summary = serde_json::from_str(&json).unwrap();
        assert_eq!(back.to_json(), json);
        assert_eq!(back.deployment(), s.deployment());
        assert!(back.baseline_aggregated.is_some());
    }
}
