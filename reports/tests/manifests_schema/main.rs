//! Every manifest xpyd emits is checked the way an API server would check it:
//!
//! 1. **OpenAPI v3 schema** of the exact CRD version (RoleBasedGroup v1alpha2/v1alpha1,
//!    InferencePool v1, KEDA ScaledObject v1alpha1) from the vendored CRDs in
//!    `tests/data/crds` (copies of `../shared/reference/crds`, see `tests/data/README.md`),
//!    turned into JSON Schema the way the API server treats a structural schema under
//!    strict field validation (`kubectl apply`'s default): unknown fields are errors
//!    (`additionalProperties: false` wherever `properties` is given and
//!    `x-kubernetes-preserve-unknown-fields` is not), `x-kubernetes-int-or-string`
//!    means integer or string, `nullable` allows null, `metadata` is the strict
//!    `ObjectMeta` schema. RBG leader/worker patches (preserve-unknown in the CRD) are
//!    validated against the pod-template schema with `required` dropped (a patch is
//!    partial).
//! 2. **Built-in kinds** (Service v1, HorizontalPodAutoscaler autoscaling/v2) against
//!    the Kubernetes 1.37 strict JSON schemas vendored in `tests/data/k8s`.
//! 3. **CEL rules** (`x-kubernetes-validations`) of the CRDs for what we emit, as Rust
//!    checks (no maintained CEL crate evaluates Kubernetes' CEL dialect offline):
//!    RBG role `standalonePattern` xor `leaderWorkerPattern`, `template` xor
//!    `templateRef` (per pattern in v1alpha2, per role in v1alpha1; templateRef not with
//!    LeaderWorkerSet/InstanceSet workloads), `sharedServiceSelection=LeaderOnly` only for
//!    RoleInstanceSet, `restartPolicyConfig.baseDelaySeconds <= maxDelaySeconds`;
//!    InferencePool `endpointPickerRef.port` required for kind Service, unique
//!    `targetPorts`; ScaledObject `minReplicaCount <= maxReplicaCount` (100 when unset).
//!    Plus the API server's Go validation for HPA (min >= 1, max >= min, windows
//!    0..=3600, policy periods 1..=1800) and object basics (DNS names, label syntax,
//!    unique role names, known dependencies, port names, `$(VAR)` references, extended
//!    resources requests = limits, volume mounts that exist).
//! 4. **Cross-object wiring**: the Service and InferencePool select the serving pods,
//!    autoscalers target `<rbg>-<role>` scaling adapters of roles that enable them,
//!    router URLs name pods that exist.
//!
//! The same validator rejects deliberately broken manifests (wrong type, unknown
//! field, CEL violation) and accepts every CRD-typed reference example.

use serde_json::{Map, Value, json};
use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use xpyd_reports::manifests::{
    Autoscaling, DeploymentSpec, EmitOptions, EngineKnobs, GatewaySpec, HpaMetricSource, HpaSpec,
    Images, KedaMetricType, KedaSpec, KvCacheDtype, ModelRef, PolicyKind, RbgApi, RoleSpec,
    RoleTopology, RouterPolicy, ScalingPolicy, ScalingRules, SelectPolicy, TransferBackend,
    default_keda_query, default_metric, emit_all, emit_objects,
};
use xpyd_sim::scenario::Backend;

// ---------------------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------------------

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn read_text(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if path.extension().is_some_and(|e| e == "gz") {
        let mut s = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut s)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        s
    } else {
        String::from_utf8(bytes).unwrap()
    }
}

fn yaml_docs(text: &str) -> Vec<Value> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).expect("valid YAML");
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

fn load_json(rel: &str) -> Value {
    serde_json::from_str(&read_text(&data().join(rel))).unwrap()
}

/// Structural schema -> JSON Schema with strict field validation (see module docs).
fn strict(s: &Value) -> Value {
    let Value::Object(o) = s else {
        return s.clone();
    };
    let mut out = Map::new();
    for (k, v) in o {
        match k.as_str() {
            "x-kubernetes-validations" | "description" => {}
            "properties" | "patternProperties" => {
                let props: Map<String, Value> = v
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(pk, pv)| (pk.clone(), strict(pv)))
                    .collect();
                out.insert(k.clone(), Value::Object(props));
            }
            "items" | "additionalProperties" | "not" => {
                out.insert(k.clone(), strict(v));
            }
            "allOf" | "anyOf" | "oneOf" => {
                out.insert(
                    k.clone(),
                    Value::Array(v.as_array().unwrap().iter().map(strict).collect()),
                );
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    let preserve = o.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true));
    if o.contains_key("properties") && !preserve && !o.contains_key("additionalProperties") {
        out.insert("additionalProperties".into(), json!(false));
    }
    if o.get("x-kubernetes-int-or-string") == Some(&json!(true)) && !o.contains_key("type") {
        out.insert(
            "anyOf".into(),
            json!([{"type": "integer"}, {"type": "string"}]),
        );
    }
    if o.get("nullable") == Some(&json!(true))
        && let Some(Value::String(t)) = o.get("type")
    {
        out.insert("type".into(), json!([t, "null"]));
    }
    Value::Object(out)
}

/// Drop `required` everywhere: the schema of a strategic-merge patch.
fn partial(s: &Value) -> Value {
    match s {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| k.as_str() != "required")
                .map(|(k, v)| (k.clone(), partial(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(partial).collect()),
        _ => s.clone(),
    }
}

struct Crd {
    /// version -> raw openAPIV3Schema
    versions: Vec<(String, Value)>,
}

fn load_crd(rel: &str) -> Crd {
    let doc = yaml_docs(&read_text(&data().join(rel))).remove(0);
    let versions = doc["spec"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["name"].as_str().unwrap().to_string(),
                v["schema"]["openAPIV3Schema"].clone(),
            )
        })
        .collect();
    Crd { versions }
}

impl Crd {
    fn schema(&self, version: &str) -> &Value {
        &self
            .versions
            .iter()
            .find(|(v, _)| v == version)
            .unwrap_or_else(|| panic!("no version {version}"))
            .1
    }
}

fn compile(schema: &Value) -> jsonschema::Validator {
    jsonschema::validator_for(schema).unwrap_or_else(|e| panic!("schema does not compile: {e}"))
}

/// A CRD version's schema, strict, with the strict ObjectMeta schema for `metadata`.
fn crd_validator(crd: &Crd, version: &str, object_meta: &Value) -> jsonschema::Validator {
    let mut s = strict(crd.schema(version));
    s["properties"]["metadata"] = object_meta.clone();
    compile(&s)
}

struct Validators {
    rbg_v1alpha2: jsonschema::Validator,
    rbg_v1alpha1: jsonschema::Validator,
    /// Pod template patch schema (partial PodTemplateSpec), per RBG version.
    patch_v1alpha2: jsonschema::Validator,
    patch_v1alpha1: jsonschema::Validator,
    pool: jsonschema::Validator,
    keda: jsonschema::Validator,
    service: jsonschema::Validator,
    hpa: jsonschema::Validator,
    service_account: jsonschema::Validator,
    role: jsonschema::Validator,
    role_binding: jsonschema::Validator,
    job: jsonschema::Validator,
    config_map: jsonschema::Validator,
    /// Whether the scaling adapter CRD's versions serve the `scale` subresource.
    adapter_scale: Vec<(String, bool)>,
}

fn validators() -> &'static Validators {
    static V: OnceLock<Validators> = OnceLock::new();
    V.get_or_init(|| {
        let meta = load_json("k8s/objectmeta-meta-v1.json");
        let mut meta = meta;
        meta.as_object_mut().unwrap().remove("$schema");
        let rbg = load_crd("crds/workloads.x-k8s.io_rolebasedgroups.yaml.gz");
        let roles =
            |v: &str| strict(&rbg.schema(v)["properties"]["spec"]["properties"]["roles"]["items"]);
        let t2 = partial(
            &roles("v1alpha2")["properties"]["standalonePattern"]["properties"]["template"],
        );
        let t1 = partial(&roles("v1alpha1")["properties"]["template"]);
        let adapter = yaml_docs(&read_text(
            &data().join("crds/workloads.x-k8s.io_rolebasedgroupscalingadapters.yaml"),
        ))
        .remove(0);
        let adapter_scale = adapter["spec"]["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["name"].as_str().unwrap().to_string(),
                    v["subresources"]["scale"].is_object(),
                )
            })
            .collect();
        Validators {
            rbg_v1alpha2: crd_validator(&rbg, "v1alpha2", &meta),
            rbg_v1alpha1: crd_validator(&rbg, "v1alpha1", &meta),
            patch_v1alpha2: compile(&t2),
            patch_v1alpha1: compile(&t1),
            pool: crd_validator(
                &load_crd("crds/inference.networking.k8s.io_inferencepools.v1.yaml"),
                "v1",
                &meta,
            ),
            keda: crd_validator(
                &load_crd("crds/keda.sh_scaledobjects.yaml"),
                "v1alpha1",
                &meta,
            ),
            service: compile(&load_json("k8s/service-v1.json")),
            hpa: compile(&load_json(
                "k8s/horizontalpodautoscaler-autoscaling-v2.json",
            )),
            service_account: compile(&load_json("k8s/serviceaccount-v1.json")),
            role: compile(&load_json("k8s/role-rbac-v1.json")),
            role_binding: compile(&load_json("k8s/rolebinding-rbac-v1.json")),
            job: compile(&load_json("k8s/job-batch-v1.json")),
            config_map: compile(&load_json("k8s/configmap-v1.json")),
            adapter_scale,
        }
    })
}

fn schema_errors(v: &jsonschema::Validator, obj: &Value, what: &str) -> Vec<String> {
    v.iter_errors(obj)
        .map(|e| format!("{what}: {}: {e}", e.instance_path()))
        .collect()
}

// ---------------------------------------------------------------------------------------
// The validator: schema + CEL + API-server checks for one object
// ---------------------------------------------------------------------------------------

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

/// All errors of one object: its schema, CEL rules and API-server checks.
/// `strict_pods` adds the pod-level checks (off for third-party examples).
fn validate_object(obj: &Value, strict_pods: bool) -> Vec<String> {
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

// ---------------------------------------------------------------------------------------
// Cross-object wiring
// ---------------------------------------------------------------------------------------

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

fn check_wiring(objs: &[Value]) -> Vec<String> {
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

// ---------------------------------------------------------------------------------------
// Specs
// ---------------------------------------------------------------------------------------

fn role(tp: u32, replicas: u32, gpus_per_node: u32) -> RoleSpec {
    RoleSpec {
        replicas,
        tp,
        gpus_per_node,
        engine: EngineKnobs {
            max_running_requests: Some(128),
            max_batched_tokens: Some(8192),
            chunked_prefill: Some(true),
            mem_fraction: Some(0.88),
            block_size: Some(64),
            kv_cache_dtype: Some(KvCacheDtype::Fp8),
        },
        autoscaling: None,
    }
}

fn rules() -> (ScalingRules, ScalingRules) {
    (
        ScalingRules {
            stabilization_window_s: Some(0),
            policies: vec![ScalingPolicy {
                kind: PolicyKind::Pods,
                value: 2,
                period_s: 60,
            }],
            select_policy: Some(SelectPolicy::Max),
        },
        ScalingRules {
            stabilization_window_s: Some(300),
            policies: vec![ScalingPolicy {
                kind: PolicyKind::Percent,
                value: 50,
                period_s: 120,
            }],
            select_policy: None,
        },
    )
}

#[derive(Copy, Clone, Debug)]
enum Scaling {
    None,
    Hpa,
    Keda,
}

fn spec(backend: Backend, disagg: bool, scaling: Scaling, multi_node: bool) -> DeploymentSpec {
    let gpn = if multi_node { 4 } else { 8 };
    let mk = |tp: u32, replicas: u32| role(tp, replicas, gpn);
    let topology = if disagg {
        RoleTopology::Disaggregated {
            prefill: mk(if multi_node { 8 } else { 2 }, 2),
            decode: mk(if multi_node { 16 } else { 4 }, 1),
        }
    } else {
        RoleTopology::Aggregated(mk(if multi_node { 8 } else { 2 }, 3))
    };
    let mut s = DeploymentSpec {
        name: "qwen3-32b-pd".into(),
        namespace: "llm".into(),
        backend,
        model: ModelRef {
            id: "qwen3-32b".into(),
            hf_repo: "Qwen/Qwen3-32B".into(),
            served_name: "qwen3-32b".into(),
            fp8_weights: true,
            max_model_len: Some(32768),
        },
        images: Images::for_backend(backend),
        topology,
        router: RouterPolicy::CacheAware,
        transfer_backend: if backend == Backend::Sglang {
            TransferBackend::Mooncake
        } else {
            TransferBackend::Nixl
        },
        rdma_resource: Some("rdma/hca".into()),
        model_pvc: "models".into(),
        gateway: GatewaySpec {
            epp_service: "qwen3-32b-pd-epp".into(),
            epp_port: 9002,
        },
    };
    let (up, down) = rules();
    let roles: Vec<&mut RoleSpec> = match &mut s.topology {
        RoleTopology::Disaggregated { prefill, decode } => vec![prefill, decode],
        RoleTopology::Aggregated(r) => vec![r],
    };
    let role_names = if disagg {
        vec!["prefill", "decode"]
    } else {
        vec!["worker"]
    };
    for (r, rn) in roles.into_iter().zip(role_names) {
        let metric = default_metric(backend, rn);
        r.autoscaling = match scaling {
            Scaling::None => None,
            Scaling::Hpa => Some(Autoscaling::Hpa(HpaSpec {
                min_replicas: 1,
                max_replicas: 8,
                source: HpaMetricSource::Pods,
                metric: metric.into(),
                target_average_value: 4.5,
                sync_period_s: Some(15),
                tolerance: Some(0.1),
                scale_up: up.clone(),
                scale_down: down.clone(),
            })),
            Scaling::Keda => Some(Autoscaling::Keda(KedaSpec {
                min_replicas: 1,
                max_replicas: 8,
                prometheus_url: "http://prometheus-operated.monitoring.svc:9090".into(),
                query: default_keda_query(metric),
                metric_type: KedaMetricType::AverageValue,
                threshold: 4.0,
                activation_threshold: None,
                polling_interval_s: 15,
                cooldown_period_s: 300,
                scale_up: up.clone(),
                scale_down: down.clone(),
            })),
        };
    }
    s
}

fn emitted(s: &DeploymentSpec, api: RbgApi) -> Vec<Value> {
    // Validate what is written: parse the YAML back.
    emit_all(s, &EmitOptions { rbg_api: api })
        .unwrap()
        .into_iter()
        .map(|(file, text)| {
            assert!(text.starts_with("# Generated by xpyd"), "{file}");
            serde_saphyr::from_str::<Value>(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
        })
        .collect()
}

fn assert_valid(objs: &[Value], what: &str) {
    let mut errs = Vec::new();
    for o in objs {
        errs.extend(validate_object(o, true));
    }
    errs.extend(check_wiring(objs));
    assert!(errs.is_empty(), "{what}:\n{}", errs.join("\n"));
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

const BACKENDS: [Backend; 3] = [Backend::Sglang, Backend::Vllm, Backend::Dynamo];
const APIS: [RbgApi; 2] = [RbgApi::V1alpha2, RbgApi::V1alpha1];

#[test]
fn every_combination_validates() {
    let mut n = 0;
    for backend in BACKENDS {
        for api in APIS {
            for disagg in [true, false] {
                for scaling in [Scaling::None, Scaling::Hpa, Scaling::Keda] {
                    for multi_node in [false, true] {
                        let s = spec(backend, disagg, scaling, multi_node);
                        let objs = emitted(&s, api);
                        let what = format!(
                            "{backend:?} {api:?} disagg={disagg} {scaling:?} multi_node={multi_node}"
                        );
                        let autoscalers = objs
                            .iter()
                            .filter(|o| {
                                matches!(
                                    o["kind"].as_str(),
                                    Some("HorizontalPodAutoscaler" | "ScaledObject")
                                )
                            })
                            .count();
                        let expect = match scaling {
                            Scaling::None => 0,
                            _ if disagg => 2,
                            _ => 1,
                        };
                        assert_eq!(autoscalers, expect, "{what}");
                        assert_valid(&objs, &what);
                        n += 1;
                    }
                }
            }
        }
    }
    assert_eq!(n, 72);
}

#[test]
fn yaml_round_trips_and_is_deterministic() {
    for backend in BACKENDS {
        let s = spec(backend, true, Scaling::Hpa, true);
        let opts = EmitOptions::default();
        let a = emit_all(&s, &opts).unwrap();
        let b = emit_all(&s.clone(), &opts).unwrap();
        assert_eq!(a, b);
        let objs = emit_objects(&s, &opts).unwrap();
        for ((file, text), m) in a.iter().zip(&objs) {
            assert_eq!(file, &m.file);
            let back: Value = serde_saphyr::from_str(text).unwrap();
            assert_eq!(back, m.object, "{file}");
        }
        let files: Vec<&str> = a.iter().map(|(f, _)| f.as_str()).collect();
        let mut expect = vec!["rolebasedgroup.yaml", "service.yaml", "inferencepool.yaml"];
        if backend != Backend::Dynamo {
            expect.extend([
                "router-serviceaccount.yaml",
                "router-role.yaml",
                "router-rolebinding.yaml",
            ]);
        }
        expect.extend(["autoscaler-prefill.yaml", "autoscaler-decode.yaml"]);
        assert_eq!(files, expect);
    }
}

fn rbg_of(objs: &[Value]) -> Value {
    objs.iter()
        .find(|o| o["kind"] == "RoleBasedGroup")
        .unwrap()
        .clone()
}

fn first_role<'a>(rbg: &'a Value, name: &str) -> &'a Value {
    rbg["spec"]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no role {name}"))
}

fn errors_of(o: &Value) -> Vec<String> {
    validate_object(o, true)
}

#[test]
fn broken_manifests_are_caught() {
    let objs = emitted(
        &spec(Backend::Sglang, true, Scaling::Hpa, false),
        RbgApi::V1alpha2,
    );
    let rbg = rbg_of(&objs);
    assert!(errors_of(&rbg).is_empty());

    // Wrong type.
    let mut bad = rbg.clone();
    bad["spec"]["roles"][1]["replicas"] = json!("two");
    let e = errors_of(&bad);
    assert!(
        e.iter().any(|e| e.contains("/spec/roles/1/replicas")),
        "{e:?}"
    );

    // Unknown field on the role, and deep inside the pod template.
    let mut bad = rbg.clone();
    bad["spec"]["roles"][1]["replicaz"] = json!(2);
    assert!(!errors_of(&bad).is_empty());
    let mut bad = rbg.clone();
    bad["spec"]["roles"][1]["standalonePattern"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] =
        json!("Always");
    let e = errors_of(&bad);
    assert!(e.iter().any(|e| e.contains("imagePullPolicyy")), "{e:?}");

    // Unknown metadata field.
    let mut bad = rbg.clone();
    bad["metadata"]["lables"] = json!({"a": "b"});
    assert!(!errors_of(&bad).is_empty());

    // CEL: both patterns.
    let mut bad = rbg.clone();
    bad["spec"]["roles"][1]["leaderWorkerPattern"] =
        json!({"size": 2, "template": {"spec": {"containers": []}}});
    let e = errors_of(&bad);
    assert!(e.iter().any(|e| e.contains("mutually exclusive")), "{e:?}");

    // CEL: template and templateRef.
    let mut bad = rbg.clone();
    bad["spec"]["roles"][1]["standalonePattern"]["templateRef"] = json!({"name": "base"});
    let e = errors_of(&bad);
    assert!(
        e.iter().any(|e| e.contains("template and templateRef")),
        "{e:?}"
    );

    // Undefined $(VAR) and a port name over 15 characters.
    let mut bad = rbg.clone();
    let c = &mut bad["spec"]["roles"][1]["standalonePattern"]["template"]["spec"]["containers"][0];
    c["args"].as_array_mut().unwrap().push(json!("$(NOPE)"));
    c["ports"][0]["name"] = json!("a-very-long-port-name");
    let e = errors_of(&bad);
    assert!(e.iter().any(|e| e.contains("$(NOPE)")), "{e:?}");
    assert!(e.iter().any(|e| e.contains("port name")), "{e:?}");

    // Wrong type in a leader/worker patch.
    let multi = rbg_of(&emitted(
        &spec(Backend::Vllm, true, Scaling::None, true),
        RbgApi::V1alpha2,
    ));
    assert!(errors_of(&multi).is_empty());
    let mut bad = multi.clone();
    bad["spec"]["roles"][1]["leaderWorkerPattern"]["workerTemplatePatch"]["spec"]["containers"]
        [0]["args"] = json!("--headless");
    let e = errors_of(&bad);
    assert!(e.iter().any(|e| e.contains("workerTemplatePatch")), "{e:?}");

    // v1alpha1: leaderWorkerSet without a leader patch.
    let multi1 = rbg_of(&emitted(
        &spec(Backend::Vllm, true, Scaling::None, true),
        RbgApi::V1alpha1,
    ));
    assert!(errors_of(&multi1).is_empty());
    let mut bad = multi1.clone();
    bad["spec"]["roles"][1]["leaderWorkerSet"]
        .as_object_mut()
        .unwrap()
        .remove("patchLeaderTemplate");
    assert!(!errors_of(&bad).is_empty());

    // InferencePool: duplicate target ports (CEL), missing EPP port (CEL), wrong type.
    let pool = objs.iter().find(|o| o["kind"] == "InferencePool").unwrap();
    assert!(errors_of(pool).is_empty());
    let mut bad = pool.clone();
    bad["spec"]["targetPorts"] = json!([{"number": 8000}, {"number": 8000}]);
    assert!(errors_of(&bad).iter().any(|e| e.contains("unique")));
    let mut bad = pool.clone();
    bad["spec"]["endpointPickerRef"]
        .as_object_mut()
        .unwrap()
        .remove("port");
    assert!(
        errors_of(&bad)
            .iter()
            .any(|e| e.contains("port is required"))
    );
    let mut bad = pool.clone();
    bad["spec"]["targetPorts"][0]["number"] = json!("8000");
    assert!(!errors_of(&bad).is_empty());

    // HPA: unknown field, minReplicas 0, bad window.
    let hpa = objs
        .iter()
        .find(|o| o["kind"] == "HorizontalPodAutoscaler")
        .unwrap();
    assert!(errors_of(hpa).is_empty());
    let mut bad = hpa.clone();
    bad["spec"]["minReplica"] = json!(1);
    assert!(!errors_of(&bad).is_empty());
    let mut bad = hpa.clone();
    bad["spec"]["minReplicas"] = json!(0);
    assert!(errors_of(&bad).iter().any(|e| e.contains("minReplicas")));
    let mut bad = hpa.clone();
    bad["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] = json!(7200);
    assert!(!errors_of(&bad).is_empty());

    // KEDA: min > max (CEL), unknown trigger field.
    let keda_objs = emitted(
        &spec(Backend::Dynamo, false, Scaling::Keda, false),
        RbgApi::V1alpha2,
    );
    let so = keda_objs
        .iter()
        .find(|o| o["kind"] == "ScaledObject")
        .unwrap();
    assert!(errors_of(so).is_empty());
    let mut bad = so.clone();
    bad["spec"]["minReplicaCount"] = json!(9);
    assert!(
        errors_of(&bad)
            .iter()
            .any(|e| e.contains("minReplicaCount"))
    );
    let mut bad = so.clone();
    bad["spec"]["triggers"][0]["metadatas"] = json!({});
    assert!(!errors_of(&bad).is_empty());

    // Service: wrong type.
    let svc = objs.iter().find(|o| o["kind"] == "Service").unwrap();
    let mut bad = svc.clone();
    bad["spec"]["ports"][0]["port"] = json!("http");
    assert!(!errors_of(&bad).is_empty());

    // Wiring: a pool selecting nothing, an HPA aimed at a role without an adapter.
    let mut bad_objs = objs.clone();
    for o in &mut bad_objs {
        if o["kind"] == "InferencePool" {
            o["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] = json!("nobody");
        }
        if o["kind"] == "HorizontalPodAutoscaler" {
            o["spec"]["scaleTargetRef"]["name"] = json!("qwen3-32b-pd-router");
        }
    }
    let e = check_wiring(&bad_objs);
    assert_eq!(e.len(), 3, "pool + two HPAs: {e:?}");
}

#[test]
fn reference_examples_validate() {
    let dir = data().join("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut checked = 0;
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        for doc in yaml_docs(&read_text(&f)) {
            let kind = doc["kind"].as_str().unwrap_or("");
            if !matches!(
                kind,
                "RoleBasedGroup" | "InferencePool" | "Service" | "HorizontalPodAutoscaler"
            ) {
                continue;
            }
            let errs = validate_object(&doc, false);
            if name.contains("inference-pools") {
                // The envsubst template (`${POOL_NAME}`, `${TARGET_PORTS}`) must fail.
                assert!(!errs.is_empty(), "{name}: template validated");
            } else {
                assert!(errs.is_empty(), "{name}: {kind}:\n{}", errs.join("\n"));
            }
            checked += 1;
        }
    }
    assert!(checked >= 25, "checked only {checked} documents");
}

#[test]
fn multi_node_layout() {
    let s = spec(Backend::Sglang, true, Scaling::None, true);
    for api in APIS {
        let rbg = rbg_of(&emitted(&s, api));
        let decode = first_role(&rbg, "decode");
        // TP 16 on 4-GPU nodes: 4 pods of 4 GPUs per instance.
        let (size, template) = match api {
            RbgApi::V1alpha2 => (
                &decode["leaderWorkerPattern"]["size"],
                &decode["leaderWorkerPattern"]["template"],
            ),
            RbgApi::V1alpha1 => (&decode["leaderWorkerSet"]["size"], &decode["template"]),
        };
        assert_eq!(size, &json!(4));
        let c = &template["spec"]["containers"][0];
        assert_eq!(c["resources"]["limits"]["nvidia.com/gpu"], json!("4"));
        assert_eq!(c["resources"]["limits"]["rdma/hca"], json!("1"));
        assert!(c.get("readinessProbe").is_none(), "workers serve no HTTP");
        let args: Vec<&str> = c["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let i = args.iter().position(|a| *a == "--tp-size").unwrap();
        assert_eq!(args[i + 1], "16");
        assert!(args.contains(&"--nnodes"));
    }
}

#[test]
fn backend_commands() {
    let objs = emitted(
        &spec(Backend::Sglang, true, Scaling::None, false),
        RbgApi::V1alpha2,
    );
    let rbg = rbg_of(&objs);
    let text = serde_json::to_string(&rbg).unwrap();
    for flag in [
        "--disaggregation-mode",
        "--disaggregation-bootstrap-port",
        "--disaggregation-transfer-backend",
        "--pd-disaggregation",
        "--tp-size",
        "mooncake",
    ] {
        assert!(text.contains(flag), "sglang lacks {flag}");
    }
    let router = first_role(&rbg, "router");
    let args = &router["standalonePattern"]["template"]["spec"]["containers"][0]["args"];
    let args: Vec<&str> = args
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args.iter().filter(|a| **a == "--prefill").count(), 2);
    assert_eq!(args.iter().filter(|a| **a == "--decode").count(), 1);
    let i = args.iter().position(|a| *a == "--prefill").unwrap();
    assert_eq!(
        args[i + 1],
        "http://qwen3-32b-pd-prefill-0.s-qwen3-32b-pd-prefill:8000"
    );
    assert_eq!(args[i + 2], "8998");

    let rbg = rbg_of(&emitted(
        &spec(Backend::Vllm, true, Scaling::None, false),
        RbgApi::V1alpha2,
    ));
    let text = serde_json::to_string(&rbg).unwrap();
    assert!(text.contains(r#"{\"kv_connector\":\"NixlConnector\",\"kv_role\":\"kv_both\"}"#));

    let rbg = rbg_of(&emitted(
        &spec(Backend::Dynamo, true, Scaling::None, false),
        RbgApi::V1alpha2,
    ));
    let names: Vec<&str> = rbg["spec"]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["frontend", "prefill", "decode", "etcd", "nats"]);
    let text = serde_json::to_string(&rbg).unwrap();
    for s in [
        "dynamo.frontend",
        "dynamo.vllm",
        "--is-prefill-worker",
        "ETCD_ENDPOINTS",
        "NATS_SERVER",
    ] {
        assert!(text.contains(s), "dynamo lacks {s}");
    }
}

#[test]
fn invalid_specs_are_errors_not_panics() {
    let mut s = spec(Backend::Vllm, true, Scaling::Hpa, false);
    s.name = "Not_A_Label".into();
    assert!(emit_all(&s, &EmitOptions::default()).is_err());

    let mut s = spec(Backend::Vllm, true, Scaling::None, false);
    if let RoleTopology::Disaggregated { decode, .. } = &mut s.topology {
        decode.tp = 12;
        decode.gpus_per_node = 8;
    }
    let e = emit_all(&s, &EmitOptions::default()).unwrap_err();
    assert!(e.to_string().contains("decode.tp"), "{e}");

    let mut s = spec(Backend::Sglang, false, Scaling::Hpa, false);
    if let RoleTopology::Aggregated(r) = &mut s.topology {
        r.replicas = 20;
    }
    assert!(emit_all(&s, &EmitOptions::default()).is_err());

    let mut s = spec(Backend::Sglang, false, Scaling::None, false);
    s.rdma_resource = Some("hca".into());
    assert!(emit_all(&s, &EmitOptions::default()).is_err());

    let mut s = spec(Backend::Sglang, false, Scaling::None, false);
    s.model.hf_repo = "../etc".into();
    assert!(emit_all(&s, &EmitOptions::default()).is_err());
}

#[test]
fn scenarios_give_valid_manifests() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let doc = xpyd_sim::scenario::parse_scenario_text(&f, &text).unwrap();
        let wire = xpyd_sim::scenario::table_to_file(&f, doc).unwrap();
        let sc = xpyd_sim::Scenario::from_file(&f, &dir, wire).unwrap();
        let s = DeploymentSpec::from_scenario(&sc);
        assert_eq!(s.backend, sc.backend);
        for api in APIS {
            let objs = emitted(&s, api);
            assert_valid(&objs, &f.display().to_string());
        }
    }
}

/// `shared/reference` beside the repository, when this checkout has it.
fn shared_reference() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    [
        root.join("../shared/reference"),
        root.join("shared/reference"),
    ]
    .into_iter()
    .find(|p| p.join("crds").is_dir())
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "yaml") {
            out.push(p);
        }
    }
}

#[test]
fn every_shared_crd_compiles_and_vendored_copies_match() {
    let Some(shared) = shared_reference() else {
        eprintln!("shared/reference not present: checked the vendored copies only");
        return;
    };
    // Every version of every CRD in the reference set becomes a strict JSON Schema that
    // compiles (the transform is not specific to the CRDs we emit).
    let mut files = Vec::new();
    yaml_files(&shared.join("crds"), &mut files);
    files.sort();
    let mut versions = 0;
    for f in &files {
        for doc in yaml_docs(&read_text(f)) {
            if doc["kind"] != "CustomResourceDefinition" {
                continue;
            }
            for v in doc["spec"]["versions"].as_array().unwrap() {
                let s = strict(&v["schema"]["openAPIV3Schema"]);
                jsonschema::validator_for(&s)
                    .unwrap_or_else(|e| panic!("{} {}: {e}", f.display(), v["name"]));
                versions += 1;
            }
        }
    }
    assert!(versions >= 20, "only {versions} CRD versions");
    // The vendored copies are the reference files, byte for byte.
    for (vendored, reference) in [
        (
            "crds/workloads.x-k8s.io_rolebasedgroups.yaml.gz",
            "crds/rbg/workloads.x-k8s.io_rolebasedgroups.yaml",
        ),
        (
            "crds/workloads.x-k8s.io_rolebasedgroupscalingadapters.yaml",
            "crds/rbg/workloads.x-k8s.io_rolebasedgroupscalingadapters.yaml",
        ),
        (
            "crds/inference.networking.k8s.io_inferencepools.v1.yaml",
            "crds/gaie/inference.networking.k8s.io_inferencepools.v1.yaml",
        ),
        (
            "crds/keda.sh_scaledobjects.yaml",
            "crds/keda/keda.sh_scaledobjects.yaml",
        ),
    ] {
        assert_eq!(
            read_text(&data().join(vendored)),
            read_text(&shared.join(reference)),
            "{vendored} differs from shared/reference/{reference}"
        );
    }
    let mut examples = Vec::new();
    yaml_files(&data().join("examples"), &mut examples);
    for f in examples {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let sub = if name.starts_with("llm-d") {
            "gaie"
        } else {
            "rbg"
        };
        assert_eq!(
            read_text(&f),
            read_text(&shared.join("examples").join(sub).join(&name)),
            "{name} differs from shared/reference"
        );
    }
}

/// A scenario file with `--set`-style overrides, as a deployment spec.
fn scenario_spec(file: &str, sets: &[String]) -> DeploymentSpec {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let f = dir.join(file);
    let text = std::fs::read_to_string(&f).unwrap();
    let mut doc = xpyd_sim::scenario::parse_scenario_text(&f, &text).unwrap();
    xpyd_sim::scenario::apply_overrides(&mut doc, sets).unwrap();
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

/// The full output for three representative deployments, reviewed as snapshots
/// (`cargo insta review` after an intended change).
#[test]
fn golden_manifests() {
    for (name, backend, api, scaling) in [
        (
            "sglang_pd_multinode_hpa_v1alpha2",
            Backend::Sglang,
            RbgApi::V1alpha2,
            Scaling::Hpa,
        ),
        (
            "vllm_pd_multinode_keda_v1alpha1",
            Backend::Vllm,
            RbgApi::V1alpha1,
            Scaling::Keda,
        ),
        (
            "dynamo_pd_multinode_v1alpha2",
            Backend::Dynamo,
            RbgApi::V1alpha2,
            Scaling::None,
        ),
    ] {
        let s = spec(backend, true, scaling, true);
        let all: String = emit_all(&s, &EmitOptions { rbg_api: api })
            .unwrap()
            .into_iter()
            .map(|(file, text)| format!("--- # {file}\n{text}"))
            .collect();
        insta::assert_snapshot!(name, all);
    }
}

/// The Indexed Job of `xpyd plan --emit-job` and its scenario ConfigMap (with a binary
/// file, as a gzipped trace would be): valid `batch/v1` Job and `v1` ConfigMap objects,
/// the volumes wired to the ConfigMap and the claim; broken copies are caught.
#[test]
fn plan_job_and_configmap_validate() {
    use xpyd_reports::manifests::job::{JobFile, PlanJobSpec, emit_plan_job, plan_job_objects};
    let spec = PlanJobSpec {
        name: "qwen-plan".into(),
        namespace: "planning".into(),
        image: "ghcr.io/xpyd/xpyd:0.1.0".into(),
        shards: 4,
        cpus: 4,
        pvc: "plans".into(),
        scenario: Some("chat.toml".into()),
        files: vec![
            JobFile {
                path: "chat.toml".into(),
                bytes: b"name = \"chat\"\n".to_vec(),
            },
            JobFile {
                path: "traces/conv.jsonl.gz".into(),
                bytes: vec![0x1f, 0x8b, 0x08, 0x00, 0xff, 0xfe],
            },
        ],
        plan_args: vec!["--tp".into(), "2,4".into()],
    };
    let objs = plan_job_objects(&spec).unwrap();
    assert_eq!(objs.len(), 2);
    for (file, o) in &objs {
        assert_eq!(errors_of(o), Vec::<String>::new(), "{file}");
    }
    // The YAML files parse back to the same objects.
    for ((file, text), (_, o)) in emit_plan_job(&spec).unwrap().iter().zip(&objs) {
        assert_eq!(&yaml_docs(text), &vec![o.clone()], "{file}");
    }
    let (cm, job) = (&objs[0].1, &objs[1].1);
    assert_eq!(cm["kind"], "ConfigMap");
    assert!(cm["binaryData"]["traces__conv.jsonl.gz"].is_string());
    let s = &job["spec"];
    assert_eq!(s["completionMode"], "Indexed");
    assert_eq!(
        (s["completions"].as_u64(), s["parallelism"].as_u64()),
        (Some(4), Some(4))
    );
    let pod = &s["template"]["spec"];
    assert_eq!(
        pod["volumes"][0]["configMap"]["name"],
        cm["metadata"]["name"]
    );
    assert_eq!(
        pod["volumes"][1]["persistentVolumeClaim"]["claimName"],
        "plans"
    );
    let args: Vec<&str> = pod["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        args.windows(2)
            .any(|w| w == ["--shard", "$(JOB_COMPLETION_INDEX)/4"])
    );

    // Broken Jobs: a wrong type, an unknown field, an undeclared $(VAR), a bad restart policy.
    let mut bad = job.clone();
    bad["spec"]["completions"] = json!("four");
    assert!(!errors_of(&bad).is_empty());
    let mut bad = job.clone();
    bad["spec"]["completionsMode"] = json!("Indexed");
    assert!(!errors_of(&bad).is_empty());
    let mut bad = job.clone();
    bad["spec"]["template"]["spec"]["containers"][0]["env"] = json!([]);
    assert!(
        errors_of(&bad)
            .iter()
            .any(|e| e.contains("JOB_COMPLETION_INDEX"))
    );
    let mut bad = job.clone();
    bad["spec"]["template"]["spec"]["restartPolicy"] = json!("Always");
    assert!(errors_of(&bad).iter().any(|e| e.contains("restartPolicy")));
    // Broken ConfigMaps: an unknown field, a wrong type, a bad key.
    let mut bad = cm.clone();
    bad["spec"] = json!({});
    assert!(!errors_of(&bad).is_empty());
    let mut bad = cm.clone();
    bad["data"]["chat.toml"] = json!(3);
    assert!(!errors_of(&bad).is_empty());
    let mut bad = cm.clone();
    bad["data"]["a/b"] = json!("x");
    assert!(!errors_of(&bad).is_empty());

    // Files a ConfigMap cannot hold, or cannot mount, are errors.
    let mut big = spec.clone();
    big.files[1].bytes = vec![0xff; 900_000];
    let e = plan_job_objects(&big).unwrap_err().to_string();
    assert!(
        e.contains("traces/conv.jsonl.gz") && e.contains("1 MiB"),
        "{e}"
    );
    let mut up = spec.clone();
    up.files[1].path = "../x.csv".into();
    assert!(plan_job_objects(&up).is_err());
}
