//! HPA and KEDA autoscaling: every simulated autoscaler of a scenario (each backend,
//! kind and metric) becomes a valid autoscaler object with no unfilled placeholder.

use crate::specs::{APIS, assert_valid, emitted};
use std::path::Path;
use xpyd_reports::manifests::{Autoscaling, DeploymentSpec, HpaMetricSource, RoleTopology};

/// A scenario file with `--set`-style overrides, as a deployment spec.
fn scenario_spec(file: &str, sets: &[String]) -> DeploymentSpec {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let f = dir.join(file);
    let text = std::fs::read_to_string(&f).unwrap();
    let mut doc = xpyd_sim::scenario::parse_scenario_text(&f, &text).unwrap();
    xpyd_sim::scenario::apply_overrides(std::path::Path::new("s.toml"), &mut doc, sets).unwrap();
    let wire = xpyd_sim::scenario::table_to_file(&f, doc).unwrap();
    let sc = xpyd_sim::Scenario::from_file(&f, &dir, wire)
        .unwrap_or_else(|e| panic!("{file} {sets:?}: {e}"));
    DeploymentSpec::from_scenario(&sc)
}

#[test]
fn simulated_autoscalers_become_valid_hpa_and_keda_objects() {
    let a = "deployment.aggregated.autoscale";
    for backend in ["vllm", "sglang", "dynamo"] {
        for kind in ["hpa", "keda"] {
            for metric in [
                "queue-length",
                "inflight",
                "kv-utilization",
                "ttft-ms",
                "tpot-ms",
                "arrival-rate",
            ] {
                let target = if metric == "kv-utilization" {
                    "0.8"
                } else {
                    "4"
                };
                let mut sets = vec![
                    format!("deployment.backend=\"{backend}\""),
                    format!("{a}.kind=\"{kind}\""),
                    format!("{a}.metric=\"{metric}\""),
                    format!("{a}.target-value={target}"),
                ];
                if metric.ends_with("-ms") {
                    sets.push(format!("{a}.percentile=90"));
                }
                if kind == "keda" {
                    sets.push(format!("{a}.min-replicas=0"));
                    sets.push(format!("{a}.activation-value=1"));
                }
                let s = scenario_spec("autoscale-burst.toml", &sets);
                let what = format!("{backend} {kind} {metric}");
                let RoleTopology::Aggregated(r) = &s.topology else {
                    panic!("{what}: not aggregated")
                };
                match (kind, &r.autoscaling) {
                    ("hpa", Some(Autoscaling::Hpa(h))) => {
                        let external = matches!(metric, "ttft-ms" | "tpot-ms" | "arrival-rate");
                        assert_eq!(h.source == HpaMetricSource::External, external, "{what}");
                        assert_eq!(h.sync_period_s, Some(15), "{what}");
                    }
                    ("keda", Some(Autoscaling::Keda(k))) => {
                        assert_eq!(k.min_replicas, 0, "{what}");
                        assert!(!k.query.contains("qwen"), "placeholders, not names: {what}");
                    }
                    other => panic!("{what}: {other:?}"),
                }
                for api in APIS {
                    let objs = emitted(&s, api);
                    assert_valid(&objs, &what);
                    let scaler = objs
                        .iter()
                        .find(|o| {
                            matches!(
                                o["kind"].as_str(),
                                Some("HorizontalPodAutoscaler" | "ScaledObject")
                            )
                        })
                        .unwrap_or_else(|| panic!("{what}: no autoscaler"));
                    let text = serde_json::to_string(scaler).unwrap();
                    assert!(
                        !text.contains("${"),
                        "{what}: unfilled placeholder in {text}"
                    );
                }
            }
        }
    }
}
