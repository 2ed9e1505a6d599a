//! Cross-object wiring: the Service and InferencePool select the serving pods,
//! autoscalers target `<rbg>-<role>` scaling adapters of roles that enable them, router
//! selectors and URLs name pods that exist, and router discovery has its RBAC.

use crate::schema::validators;
use serde_json::{Map, Value, json};

/// Labels of the serving pods of an RBG: standalone templates and leader patches merged.
fn serving_pod_labels(rbg: &Value) -> Vec<Map<String, Value>> {
    let mut out = Vec::new();
    for r in rbg["spec"]["roles"].as_array().into_iter().flatten() {
        let (template, leader_patch) = if let Some(sp) = r.get("standalonePattern") {
            (sp["template"].clone(), Value::Null)
        } else if let Some(l) = r.get("leaderWorkerPattern") {
            (l["template"].clone(), l["leaderTemplatePatch"].clone())
        } else if let Some(l) = r.get("leaderWorkerSet") {
            (r["template"].clone(), l["patchLeaderTemplate"].clone())
        } else {
            (r["template"].clone(), Value::Null)
        };
        let mut labels = template["metadata"]["labels"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        if let Some(l) = leader_patch["metadata"]["labels"].as_object() {
            labels.extend(l.clone());
        }
        out.push(labels);
    }
    out
}

fn selects(selector: &Value, labels: &Map<String, Value>) -> bool {
    selector
        .as_object()
        .is_some_and(|s| !s.is_empty() && s.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

pub(crate) fn check_wiring(objs: &[Value]) -> Vec<String> {
    let mut errs = Vec::new();
    let rbg = objs
        .iter()
        .find(|o| o["kind"] == "RoleBasedGroup")
        .expect("an RBG");
    let name = rbg["metadata"]["name"].as_str().unwrap();
    let pods = serving_pod_labels(rbg);
    for o in objs {
        let sel = match o["kind"].as_str() {
            Some("Service") => &o["spec"]["selector"],
            Some("InferencePool") => &o["spec"]["selector"]["matchLabels"],
            _ => continue,
        };
        let n = pods.iter().filter(|l| selects(sel, l)).count();
        if n == 0 {
            errs.push(format!("{} selects no serving pod", o["kind"]));
        }
    }
    let roles = rbg["spec"]["roles"].as_array().unwrap();
    for o in objs {
        if !matches!(
            o["kind"].as_str(),
            Some("HorizontalPodAutoscaler" | "ScaledObject")
        ) {
            continue;
        }
        let t = &o["spec"]["scaleTargetRef"];
        let version = rbg["apiVersion"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap();
        if t["kind"] != "RoleBasedGroupScalingAdapter" || t["apiVersion"] != rbg["apiVersion"] {
            errs.push(format!(
                "{}: target is not the RBG scaling adapter",
                o["kind"]
            ));
        }
        if !validators()
            .adapter_scale
            .iter()
            .any(|(v, s)| v == version && *s)
        {
            errs.push(format!(
                "scaling adapter {version} has no scale subresource"
            ));
        }
        let target = t["name"].as_str().unwrap_or("");
        let ok = roles.iter().any(|r| {
            format!("{name}-{}", r["name"].as_str().unwrap()) == target
                && r["scalingAdapter"]["enable"] == json!(true)
        });
        if !ok {
            errs.push(format!(
                "{}: no role with scalingAdapter for `{target}`",
                o["kind"]
            ));
        }
    }
    // Router discovery: selectors match serving pods of the role; RBAC is complete.
    for r in roles {
        let pod = r["standalonePattern"]["template"]
            .get("spec")
            .or_else(|| r["template"].get("spec"))
            .cloned()
            .unwrap_or(Value::Null);
        let Some(args) = pod["containers"][0]["args"].as_array() else {
            continue;
        };
        let args: Vec<&str> = args.iter().filter_map(|a| a.as_str()).collect();
        for (flag, role) in [
            ("--prefill-selector", "prefill"),
            ("--decode-selector", "decode"),
        ] {
            let Some(i) = args.iter().position(|a| *a == flag) else {
                continue;
            };
            let sel: Map<String, Value> = args[i + 1..]
                .iter()
                .take_while(|a| !a.starts_with("--"))
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                .collect();
            let ok = serving_pod_labels(rbg).iter().any(|l| {
                l.get("app.kubernetes.io/component") == Some(&json!(role))
                    && selects(&Value::Object(sel.clone()), l)
            });
            if !ok {
                errs.push(format!("router {flag} selects no serving {role} pod"));
            }
            let sa = pod["serviceAccountName"].as_str().unwrap_or("");
            let has_kind = |k: &str| {
                objs.iter()
                    .any(|o| o["kind"] == k && o["metadata"]["name"] == sa)
            };
            let bound = objs.iter().any(|o| {
                o["kind"] == "RoleBinding"
                    && o["roleRef"]["name"] == sa
                    && o["subjects"][0]["name"] == sa
            });
            if !(has_kind("ServiceAccount") && has_kind("Role") && bound) {
                errs.push(format!(
                    "router discovery without ServiceAccount/Role/RoleBinding `{sa}`"
                ));
            }
        }
    }
    // Router URLs name pods that exist: http://NAME-ROLE-I.s-NAME-ROLE:PORT
    let text = serde_json::to_string(rbg).unwrap();
    for url in text.split("http://").skip(1) {
        let host = url.split([':', '"', '/']).next().unwrap_or("");
        let Some((pod, svc)) = host.split_once(".s-") else {
            continue;
        };
        let Some((prefix, idx)) = pod.rsplit_once('-') else {
            continue;
        };
        if prefix != svc {
            errs.push(format!("url host {host}: pod and service disagree"));
            continue;
        }
        let role = prefix.strip_prefix(&format!("{name}-")).unwrap_or("");
        let replicas = roles
            .iter()
            .find(|r| r["name"] == role)
            .and_then(|r| r["replicas"].as_u64());
        match (replicas, idx.parse::<u64>()) {
            (Some(n), Ok(i)) if i < n => {}
            _ => errs.push(format!("url host {host} names no pod")),
        }
    }
    errs
}
