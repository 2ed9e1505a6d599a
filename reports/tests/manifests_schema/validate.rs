//! The validator of one object: its schema, the CRD's CEL rules and the API server's
//! Go validation (names, labels, pod templates), as [`validate_object`].

use crate::schema::{schema_errors, validators};
use serde_json::{Value, json};
use std::collections::BTreeSet;

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

fn is_label_value(s: &str) -> bool {
    s.len() <= 63
        && (s.is_empty()
            || (s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
                && s.as_bytes()[0].is_ascii_alphanumeric()
                && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric()))
}

fn is_qualified_name(s: &str) -> bool {
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    prefix.is_none_or(is_dns_subdomain) && !name.is_empty() && is_label_value(name)
}

fn check_metadata(obj: &Value, errs: &mut Vec<String>) {
    let m = &obj["metadata"];
    let name = m["name"].as_str().unwrap_or("");
    if !is_dns_subdomain(name) {
        errs.push(format!("metadata.name `{name}` is not a DNS subdomain"));
    }
    for key in ["labels", "annotations"] {
        if let Some(l) = m[key].as_object() {
            for (k, v) in l {
                if !is_qualified_name(k) {
                    errs.push(format!("metadata.{key}: bad key `{k}`"));
                }
                if key == "labels" && !v.as_str().is_some_and(is_label_value) {
                    errs.push(format!("metadata.labels.{k}: bad value {v}"));
                }
            }
        }
    }
}

/// Checks of a pod template (or patch) the API server makes when the workload creates
/// pods. `injected`: env vars the RBG controller adds.
fn check_pod(t: &Value, path: &str, injected: &[&str], errs: &mut Vec<String>) {
    if let Some(l) = t["metadata"]["labels"].as_object() {
        for (k, v) in l {
            if !is_qualified_name(k) || !v.as_str().is_some_and(is_label_value) {
                errs.push(format!("{path}.metadata.labels: bad label {k}={v}"));
            }
        }
    }
    let volumes: BTreeSet<&str> = t["spec"]["volumes"]
        .as_array()
        .map(|v| v.iter().filter_map(|v| v["name"].as_str()).collect())
        .unwrap_or_default();
    for c in t["spec"]["containers"].as_array().into_iter().flatten() {
        let cname = c["name"].as_str().unwrap_or("");
        let p = format!("{path}.containers[{cname}]");
        if !is_dns_label(cname) {
            errs.push(format!("{p}: container name is not a DNS label"));
        }
        let mut names = BTreeSet::new();
        let mut nums = BTreeSet::new();
        for port in c["ports"].as_array().into_iter().flatten() {
            if let Some(n) = port["name"].as_str() {
                let ok = n.len() <= 15
                    && is_dns_label(n)
                    && n.bytes().any(|b| b.is_ascii_lowercase())
                    && !n.contains("--");
                if !ok || !names.insert(n) {
                    errs.push(format!("{p}: bad or duplicate port name `{n}`"));
                }
            }
            if !nums.insert(port["containerPort"].to_string()) {
                errs.push(format!(
                    "{p}: duplicate containerPort {}",
                    port["containerPort"]
                ));
            }
        }
        let mut env: BTreeSet<String> = injected.iter().map(|s| s.to_string()).collect();
        for e in c["env"].as_array().into_iter().flatten() {
            let n = e["name"].as_str().unwrap_or("");
            // $(VAR) in a value may only refer to variables defined before it.
            if let Some(v) = e["value"].as_str() {
                check_refs(v, &env, &format!("{p}.env.{n}"), errs);
            }
            env.insert(n.to_string());
        }
        for key in ["command", "args"] {
            for a in c[key].as_array().into_iter().flatten() {
                check_refs(a.as_str().unwrap_or(""), &env, &format!("{p}.{key}"), errs);
            }
        }
        let req = &c["resources"]["requests"];
        let lim = &c["resources"]["limits"];
        for (k, v) in req.as_object().into_iter().flatten() {
            if k.contains('/') && lim.get(k) != Some(v) {
                errs.push(format!(
                    "{p}: extended resource {k} needs requests = limits"
                ));
            }
        }
        for m in c["volumeMounts"].as_array().into_iter().flatten() {
            let n = m["name"].as_str().unwrap_or("");
            // A patch may mount a volume the base template declares.
            if !volumes.contains(n) && !path.contains("Patch") && !path.contains("patch") {
                errs.push(format!("{p}: volumeMount of undeclared volume `{n}`"));
            }
        }
    }
}

fn check_refs(s: &str, env: &BTreeSet<String>, path: &str, errs: &mut Vec<String>) {
    let mut rest = s;
    while let Some(i) = rest.find("$(") {
        let tail = &rest[i + 2..];
        let Some(j) = tail.find(')') else { break };
        let var = &tail[..j];
        if !env.contains(var) {
            errs.push(format!("{path}: `$({var})` is not a defined env var"));
        }
        rest = &tail[j + 1..];
    }
}

fn has(o: &Value, k: &str) -> bool {
    o.get(k).is_some_and(|v| !v.is_null())
}

/// RBG CEL rules and role-level checks.
fn check_rbg(obj: &Value, version: &str, strict_pods: bool, errs: &mut Vec<String>) {
    let v = validators();
    let patch_validator = if version == "v1alpha2" {
        &v.patch_v1alpha2
    } else {
        &v.patch_v1alpha1
    };
    let roles = obj["spec"]["roles"].as_array().cloned().unwrap_or_default();
    let names: Vec<&str> = roles.iter().filter_map(|r| r["name"].as_str()).collect();
    let unique: BTreeSet<&str> = names.iter().copied().collect();
    if unique.len() != names.len() {
        errs.push("spec.roles: role names must be unique (list-map key `name`)".into());
    }
    for r in &roles {
        let rn = r["name"].as_str().unwrap_or("?");
        let p = format!("spec.roles[{rn}]");
        for d in r["dependencies"].as_array().into_iter().flatten() {
            if !d.as_str().is_some_and(|d| unique.contains(d) && d != rn) {
                errs.push(format!("{p}.dependencies: unknown role {d}"));
            }
        }
        let mut templates: Vec<(String, Value)> = Vec::new();
        let mut patches: Vec<(String, Value)> = Vec::new();
        let mut injected: &[&str] = &[];
        if version == "v1alpha2" {
            // CEL: standalonePattern and leaderWorkerPattern are mutually exclusive.
            let sp = has(r, "standalonePattern");
            let lwp = has(r, "leaderWorkerPattern");
            if sp && lwp {
                errs.push(format!(
                    "{p}: standalonePattern and leaderWorkerPattern are mutually exclusive"
                ));
            }
            if !sp && !lwp && !has(r, "customComponentsPattern") {
                errs.push(format!("{p}: no pattern"));
            }
            for pat in ["standalonePattern", "leaderWorkerPattern"] {
                let Some(pt) = r.get(pat).filter(|x| !x.is_null()) else {
                    continue;
                };
                // CEL: template and templateRef are mutually exclusive (and one is needed).
                if has(pt, "template") == has(pt, "templateRef") {
                    errs.push(format!(
                        "{p}.{pat}: exactly one of template and templateRef"
                    ));
                }
                if let Some(t) = pt.get("template") {
                    templates.push((format!("{p}.{pat}.template"), t.clone()));
                }
                if pat == "leaderWorkerPattern" {
                    injected = &[
                        "RBG_LWP_LEADER_ADDRESS",
                        "RBG_LWP_GROUP_SIZE",
                        "RBG_LWP_WORKER_INDEX",
                    ];
                    for k in ["leaderTemplatePatch", "workerTemplatePatch"] {
                        if let Some(x) = pt.get(k) {
                            patches.push((format!("{p}.{pat}.{k}"), x.clone()));
                        }
                    }
                    // CEL: LeaderOnly only for RoleInstanceSet.
                    if pt["sharedServiceSelection"] == json!("LeaderOnly")
                        && r["annotations"]["rbg.workloads.x-k8s.io/role-workload-type"]
                            .as_str()
                            .is_some_and(|w| w != "workloads.x-k8s.io/v1alpha2/RoleInstanceSet")
                    {
                        errs.push(format!(
                            "{p}: sharedServiceSelection=LeaderOnly needs RoleInstanceSet"
                        ));
                    }
                    let rp = &pt["restartPolicyConfig"];
                    if let (Some(b), Some(m)) = (
                        rp["baseDelaySeconds"].as_i64(),
                        rp["maxDelaySeconds"].as_i64(),
                    ) && m < b
                    {
                        errs.push(format!("{p}: maxDelaySeconds must be >= baseDelaySeconds"));
                    }
                }
            }
        } else {
            let kind = r["workload"]["kind"].as_str().unwrap_or("StatefulSet");
            // CEL: templateRef not with InstanceSet / LeaderWorkerSet workloads.
            if has(r, "templateRef") && (kind == "InstanceSet" || kind == "LeaderWorkerSet") {
                errs.push(format!(
                    "{p}: templateRef is not supported for {kind} workloads"
                ));
            }
            // CEL: template or templateRef for non-InstanceSet, never both.
            if has(r, "template") && has(r, "templateRef") {
                errs.push(format!(
                    "{p}: template and templateRef are mutually exclusive"
                ));
            }
            if has(r, "template") == has(r, "templateRef") && kind != "InstanceSet" {
                errs.push(format!("{p}: template or templateRef must be set"));
            }
            if let Some(t) = r.get("template") {
                templates.push((format!("{p}.template"), t.clone()));
            }
            if let Some(l) = r.get("leaderWorkerSet").filter(|x| !x.is_null()) {
                injected = &["LWS_LEADER_ADDRESS", "LWS_GROUP_SIZE", "LWS_WORKER_INDEX"];
                if kind != "LeaderWorkerSet" && kind != "InstanceSet" {
                    errs.push(format!(
                        "{p}: leaderWorkerSet needs a LeaderWorkerSet or InstanceSet workload"
                    ));
                }
                for k in ["patchLeaderTemplate", "patchWorkerTemplate"] {
                    match l.get(k) {
                        Some(x) if !x.is_null() => {
                            patches.push((format!("{p}.leaderWorkerSet.{k}"), x.clone()))
                        }
                        _ => errs.push(format!("{p}.leaderWorkerSet: {k} is required")),
                    }
                }
            }
        }
        for (path, patch) in &patches {
            errs.extend(schema_errors(patch_validator, patch, path));
        }
        if strict_pods {
            for (path, t) in templates.iter().chain(patches.iter()) {
                check_pod(t, path, injected, errs);
            }
        }
    }
}

fn check_pool(obj: &Value, errs: &mut Vec<String>) {
    let epp = &obj["spec"]["endpointPickerRef"];
    // CEL: port is required when kind is 'Service' or unspecified.
    if epp["kind"].as_str().unwrap_or("Service") == "Service" && !has(epp, "port") {
        errs.push(
            "spec.endpointPickerRef: port is required when kind is 'Service' or unspecified".into(),
        );
    }
    // CEL: target port numbers unique.
    let ports: Vec<String> = obj["spec"]["targetPorts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| p["number"].to_string())
        .collect();
    if ports.iter().collect::<BTreeSet<_>>().len() != ports.len() {
        errs.push("spec.targetPorts: port number must be unique".into());
    }
}

fn check_keda(obj: &Value, errs: &mut Vec<String>) {
    let s = &obj["spec"];
    // CEL: !has(min) || min <= (has(max) ? max : 100)
    if let Some(min) = s["minReplicaCount"].as_i64() {
        let max = s["maxReplicaCount"].as_i64().unwrap_or(100);
        if min > max {
            errs.push("spec: minReplicaCount must be less than or equal to maxReplicaCount".into());
        }
    }
    check_behavior(
        &s["advanced"]["horizontalPodAutoscalerConfig"]["behavior"],
        errs,
    );
}

fn check_behavior(b: &Value, errs: &mut Vec<String>) {
    for dir in ["scaleUp", "scaleDown"] {
        let r = &b[dir];
        if let Some(w) = r["stabilizationWindowSeconds"].as_i64()
            && !(0..=3600).contains(&w)
        {
            errs.push(format!(
                "behavior.{dir}.stabilizationWindowSeconds must be 0..=3600"
            ));
        }
        for p in r["policies"].as_array().into_iter().flatten() {
            let period = p["periodSeconds"].as_i64().unwrap_or(0);
            if !(1..=1800).contains(&period) || p["value"].as_i64().unwrap_or(0) < 1 {
                errs.push(format!(
                    "behavior.{dir}.policies: value >= 1, period 1..=1800"
                ));
            }
        }
    }
}

fn check_hpa(obj: &Value, errs: &mut Vec<String>) {
    let s = &obj["spec"];
    let min = s["minReplicas"].as_i64().unwrap_or(1);
    let max = s["maxReplicas"].as_i64().unwrap_or(0);
    if min < 1 {
        errs.push("spec.minReplicas must be >= 1".into());
    }
    if max < min {
        errs.push("spec.maxReplicas must be >= minReplicas".into());
    }
    check_behavior(&s["behavior"], errs);
}

/// The API server's Go validation of an Indexed Job we emit, and its pod template.
fn check_job(obj: &Value, errs: &mut Vec<String>) {
    let s = &obj["spec"];
    let indexed = s["completionMode"] == "Indexed";
    if indexed && !s["completions"].is_u64() {
        errs.push("spec.completions is required for an Indexed Job".into());
    }
    for k in ["completions", "parallelism", "backoffLimit"] {
        if s[k].as_i64().is_some_and(|n| n < 0) {
            errs.push(format!("spec.{k} must be >= 0"));
        }
    }
    let restart = s["template"]["spec"]["restartPolicy"]
        .as_str()
        .unwrap_or("");
    if !matches!(restart, "Never" | "OnFailure") {
        errs.push(format!(
            "spec.template.spec.restartPolicy must be Never or OnFailure, got `{restart}`"
        ));
    }
    check_pod(&s["template"], "spec.template", &[], errs);
}

/// ConfigMap keys (`[-._a-zA-Z0-9]+`, unique across `data` and `binaryData`), base64
/// `binaryData`, and the 1 MiB size limit.
fn check_config_map(obj: &Value, errs: &mut Vec<String>) {
    let mut keys = BTreeSet::new();
    let mut size = 0;
    for field in ["data", "binaryData"] {
        for (k, v) in obj[field].as_object().into_iter().flatten() {
            let ok = !k.is_empty()
                && k.len() <= 253
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
            if !ok || !keys.insert(k.clone()) {
                errs.push(format!("{field}.{k}: bad or duplicate key"));
            }
            let text = v.as_str().unwrap_or("");
            size += text.len();
            if field == "binaryData" {
                let b64 = text.len() % 4 == 0
                    && text
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
                if !b64 {
                    errs.push(format!("binaryData.{k}: not base64"));
                }
            }
        }
    }
    if size > 1 << 20 {
        errs.push(format!("ConfigMap data of {size} bytes exceeds 1 MiB"));
    }
}

/// LWS webhook rules (`size >= 1`, `replicas >= 0`) and the pods of its templates.
fn check_lws(obj: &Value, errs: &mut Vec<String>) {
    let s = &obj["spec"];
    if s["replicas"].as_i64().is_some_and(|n| n < 0) {
        errs.push("spec.replicas must be >= 0".into());
    }
    let lwt = &s["leaderWorkerTemplate"];
    if lwt["size"].as_i64().is_some_and(|n| n < 1) {
        errs.push("spec.leaderWorkerTemplate.size must be >= 1".into());
    }
    let injected = ["LWS_LEADER_ADDRESS", "LWS_GROUP_SIZE", "LWS_WORKER_INDEX"];
    for k in ["leaderTemplate", "workerTemplate"] {
        if let Some(t) = lwt.get(k) {
            check_pod(
                t,
                &format!("spec.leaderWorkerTemplate.{k}"),
                &injected,
                errs,
            );
        }
    }
}

/// DynamoGraphDeployment services: known component types, a main container per
/// service checked as a pod's, positive replicas, HPA bounds.
fn check_dgd(obj: &Value, errs: &mut Vec<String>) {
    let services = obj["spec"]["services"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    if !services.values().any(|s| s["componentType"] == "frontend") {
        errs.push("spec.services: no frontend".into());
    }
    for (name, s) in &services {
        let p = format!("spec.services.{name}");
        if !matches!(
            s["componentType"].as_str(),
            Some("frontend" | "worker" | "planner" | "main")
        ) {
            errs.push(format!(
                "{p}.componentType {} is not one the operator knows",
                s["componentType"]
            ));
        }
        if s["replicas"].as_i64().is_some_and(|n| n < 0) {
            errs.push(format!("{p}.replicas must be >= 0"));
        }
        let pod = json!({"spec": {"containers": [s["extraPodSpec"]["mainContainer"].clone()]}});
        check_pod(&pod, &p, &[], errs);
        let a = &s["autoscaling"];
        if a.is_object() {
            let (min, max) = (
                a["minReplicas"].as_i64().unwrap_or(1),
                a["maxReplicas"].as_i64().unwrap_or(0),
            );
            if min < 1 || max < min {
                errs.push(format!(
                    "{p}.autoscaling: needs 1 <= minReplicas <= maxReplicas"
                ));
            }
            check_behavior(&a["behavior"], errs);
        }
    }
}

/// The EndpointPickerConfig's schema and the scheduler's load-time checks: plugin names
/// unique, every `pluginRef` names a plugin, one profile handler, and the profiles the
/// handler needs (`single-profile-handler`: one; `disagg-profile-handler`: `prefill` and
/// `decode`, its decider a plugin).
pub(crate) fn validate_epp_config(cfg: &Value) -> Vec<String> {
    let mut errs = schema_errors(&validators().epp_config, cfg, "EndpointPickerConfig");
    let mut names = BTreeSet::new();
    let mut handlers = Vec::new();
    for p in cfg["plugins"].as_array().into_iter().flatten() {
        let t = p["type"].as_str().unwrap_or("");
        let n = p["name"].as_str().unwrap_or(t);
        if !names.insert(n.to_string()) {
            errs.push(format!("plugins: duplicate plugin name `{n}`"));
        }
        if t.ends_with("-profile-handler") {
            handlers.push(p.clone());
        }
    }
    let known = |r: &Value, path: &str, errs: &mut Vec<String>| {
        if let Some(r) = r.as_str()
            && !names.contains(r)
        {
            errs.push(format!("{path}: pluginRef `{r}` names no plugin"));
        }
    };
    let mut profiles = BTreeSet::new();
    for prof in cfg["schedulingProfiles"].as_array().into_iter().flatten() {
        let pn = prof["name"].as_str().unwrap_or("");
        if !profiles.insert(pn.to_string()) {
            errs.push(format!("schedulingProfiles: duplicate profile `{pn}`"));
        }
        for p in prof["plugins"].as_array().into_iter().flatten() {
            known(
                &p["pluginRef"],
                &format!("schedulingProfiles[{pn}]"),
                &mut errs,
            );
        }
    }
    for src in cfg["dataLayer"]["sources"].as_array().into_iter().flatten() {
        known(&src["pluginRef"], "dataLayer.sources", &mut errs);
        for x in src["extractors"].as_array().into_iter().flatten() {
            known(&x["pluginRef"], "dataLayer.sources.extractors", &mut errs);
        }
    }
    for k in ["saturationDetector", "parser", "discovery"] {
        known(&cfg[k]["pluginRef"], k, &mut errs);
    }
    match handlers.as_slice() {
        [h] => match h["type"].as_str() {
            Some("single-profile-handler") if profiles.len() != 1 => {
                errs.push("single-profile-handler needs exactly one profile".into())
            }
            Some("disagg-profile-handler") => {
                for want in ["prefill", "decode"] {
                    if !profiles.contains(want) {
                        errs.push(format!("disagg-profile-handler needs a `{want}` profile"));
                    }
                }
                for d in h["parameters"]["deciders"]
                    .as_object()
                    .into_iter()
                    .flatten()
                {
                    known(d.1, "disagg-profile-handler.deciders", &mut errs);
                }
            }
            _ => {}
        },
        _ => errs.push(format!(
            "plugins: exactly one profile handler needed, found {}",
            handlers.len()
        )),
    }
    errs
}

/// Keys of an llm-d-modelservice container the chart consumes itself (not Container fields).
const CHART_CONTAINER_KEYS: [&str; 3] = ["modelCommand", "mountModelVolume", "extraConfig"];

/// llm-d-modelservice values: the derived schema, then each created role's containers
/// checked as the pods the chart renders (model volume `model-storage` added when
/// `mountModelVolume`; LeaderWorkerSet env when `multinode`), its GPUs against
/// `parallelism`, vLLM's `data = dataLocal x workers`, and the routing sidecar present
/// whenever a prefill role is (decode pods reach prefill only through it).
pub(crate) fn validate_llmd_values(v: &Value) -> Vec<String> {
    let mut errs = schema_errors(&validators().llmd_values, v, "llm-d-modelservice values");
    let multinode = v["multinode"] == json!(true);
    let injected: &[&str] = if multinode {
        &["LWS_LEADER_ADDRESS", "LWS_GROUP_SIZE", "LWS_WORKER_INDEX"]
    } else {
        &[]
    };
    for role in ["prefill", "decode"] {
        let r = &v[role];
        if !r.is_object() || r["create"] == json!(false) {
            continue;
        }
        let par = &r["parallelism"];
        let get = |k: &str| par[k].as_i64().unwrap_or(1);
        // vLLM's data-parallel ranks across the group's pods (TP across nodes has data 1).
        if get("data") > 1 && get("data") != get("dataLocal") * get("workers") {
            errs.push(format!(
                "{role}.parallelism: data must be dataLocal x workers (vLLM data-parallel ranks)"
            ));
        }
        let mut volumes: Vec<Value> = r["volumes"].as_array().cloned().unwrap_or_default();
        volumes.push(json!({"name": "model-storage", "emptyDir": {}}));
        for c in r["containers"].as_array().into_iter().flatten() {
            let mut k = c.as_object().cloned().unwrap_or_default();
            for key in CHART_CONTAINER_KEYS {
                k.remove(key);
            }
            if c["mountModelVolume"] == json!(true) {
                let mut mounts = k
                    .get("volumeMounts")
                    .and_then(|m| m.as_array().cloned())
                    .unwrap_or_default();
                mounts.push(
                    json!({"name": "model-storage", "mountPath": v["modelArtifacts"]["mountPath"]}),
                );
                k.insert("volumeMounts".into(), mounts.into());
            }
            let pod = json!({"spec": {"containers": [k], "volumes": volumes}});
            check_pod(&pod, role, injected, &mut errs);
            let gpus = c["resources"]["limits"]["nvidia.com/gpu"]
                .as_str()
                .and_then(|g| g.parse::<i64>().ok());
            let per_pod = get("tensor") * get("dataLocal");
            if !multinode && gpus.is_some_and(|g| g != per_pod) {
                errs.push(format!(
                    "{role}: nvidia.com/gpu {gpus:?} differs from parallelism tensor x dataLocal = {per_pod}"
                ));
            }
        }
    }
    let prefill = &v["prefill"];
    if prefill.is_object()
        && prefill["create"] != json!(false)
        && v["routing"]["proxy"]["enabled"] == json!(false)
    {
        errs.push("prefill is created but routing.proxy is disabled: decode never uses it".into());
    }
    errs
}

/// LLMInferenceService: the CRD's CEL rules (replicas xor scaling, scaling bounds, idle
/// replicas below the minimum) and the webhook's checks (a worker needs data or pipeline
/// parallelism, not both; data with dataLocal; scheduler config inline xor ref; no WVA),
/// the pods of every template, and the inline EndpointPickerConfig.
fn check_kserve(obj: &Value, errs: &mut Vec<String>) {
    let s = &obj["spec"];
    let mut workloads = vec![("spec", s)];
    if s["prefill"].is_object() {
        workloads.push(("spec.prefill", &s["prefill"]));
    }
    for (p, w) in workloads {
        if has(w, "replicas") && has(w, "scaling") {
            errs.push(format!("{p}: replicas and scaling are mutually exclusive"));
        }
        let sc = &w["scaling"];
        if sc.is_object() {
            if has(sc, "wva") {
                errs.push(format!(
                    "{p}.scaling.wva: new WVA configuration is rejected"
                ));
            }
            let min = sc["minReplicas"].as_i64().unwrap_or(1);
            if sc["maxReplicas"].as_i64().is_some_and(|max| min > max) {
                errs.push(format!(
                    "{p}.scaling: minReplicas cannot exceed maxReplicas"
                ));
            }
            if sc["keda"]["idleReplicaCount"]
                .as_i64()
                .is_some_and(|i| i >= min)
            {
                errs.push(format!(
                    "{p}.scaling: idleReplicaCount must be less than minReplicas"
                ));
            }
            check_behavior(
                &sc["keda"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"],
                errs,
            );
        }
        let par = &w["parallelism"];
        let dp = has(par, "data") || has(par, "dataLocal");
        let pp = has(par, "pipeline");
        if has(w, "worker") && !(dp || pp) {
            errs.push(format!(
                "{p}.worker: needs parallelism with data or pipeline parallelism"
            ));
        }
        if dp && pp {
            errs.push(format!("{p}.parallelism: pipeline and data are exclusive"));
        }
        if has(par, "data") != has(par, "dataLocal") {
            errs.push(format!("{p}.parallelism: data and dataLocal go together"));
        }
        for k in ["template", "worker"] {
            if has(w, k) {
                check_pod(&json!({"spec": w[k]}), &format!("{p}.{k}"), &[], errs);
            }
        }
    }
    let cfg = &s["router"]["scheduler"]["config"];
    if cfg.is_object() {
        if has(cfg, "inline") == has(cfg, "ref") {
            errs.push("spec.router.scheduler.config: either inline or ref".into());
        }
        if has(cfg, "inline") {
            errs.extend(validate_epp_config(&cfg["inline"]));
        }
    }
}

/// All errors of one object: its schema, CEL rules and API-server checks.
/// `strict_pods` adds the pod-level checks (off for third-party examples).
pub(crate) fn validate_object(obj: &Value, strict_pods: bool) -> Vec<String> {
    let v = validators();
    let api = obj["apiVersion"].as_str().unwrap_or("");
    let kind = obj["kind"].as_str().unwrap_or("");
    let mut errs = Vec::new();
    match (api, kind) {
        ("workloads.x-k8s.io/v1alpha2", "RoleBasedGroup") => {
            errs.extend(schema_errors(&v.rbg_v1alpha2, obj, kind));
            check_rbg(obj, "v1alpha2", strict_pods, &mut errs);
        }
        ("workloads.x-k8s.io/v1alpha1", "RoleBasedGroup") => {
            errs.extend(schema_errors(&v.rbg_v1alpha1, obj, kind));
            check_rbg(obj, "v1alpha1", strict_pods, &mut errs);
        }
        ("inference.networking.k8s.io/v1", "InferencePool") => {
            errs.extend(schema_errors(&v.pool, obj, kind));
            check_pool(obj, &mut errs);
        }
        ("keda.sh/v1alpha1", "ScaledObject") => {
            errs.extend(schema_errors(&v.keda, obj, kind));
            check_keda(obj, &mut errs);
        }
        ("v1", "Service") => errs.extend(schema_errors(&v.service, obj, kind)),
        ("v1", "ServiceAccount") => errs.extend(schema_errors(&v.service_account, obj, kind)),
        ("rbac.authorization.k8s.io/v1", "Role") => errs.extend(schema_errors(&v.role, obj, kind)),
        ("batch/v1", "Job") => {
            errs.extend(schema_errors(&v.job, obj, kind));
            check_job(obj, &mut errs);
        }
        ("v1", "ConfigMap") => {
            errs.extend(schema_errors(&v.config_map, obj, kind));
            check_config_map(obj, &mut errs);
        }
        ("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet") => {
            errs.extend(schema_errors(&v.lws, obj, kind));
            check_lws(obj, &mut errs);
        }
        ("nvidia.com/v1alpha1", "DynamoGraphDeployment") => {
            errs.extend(schema_errors(&v.dgd, obj, kind));
            check_dgd(obj, &mut errs);
        }
        ("serving.kserve.io/v1alpha1", "LLMInferenceService") => {
            errs.extend(schema_errors(&v.kserve, obj, kind));
            check_kserve(obj, &mut errs);
        }
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => {
            errs.extend(schema_errors(&v.role_binding, obj, kind))
        }
        ("autoscaling/v2", "HorizontalPodAutoscaler") => {
            errs.extend(schema_errors(&v.hpa, obj, kind));
            check_hpa(obj, &mut errs);
        }
        _ => errs.push(format!("no schema for {api} {kind}")),
    }
    check_metadata(obj, &mut errs);
    errs
}
