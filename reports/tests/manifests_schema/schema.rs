//! Schemas: the vendored CRDs (RoleBasedGroup, scaling adapter, InferencePool, KEDA
//! ScaledObject), Kubernetes JSON schemas and derived schemas (LeaderWorkerSet,
//! DynamoGraphDeployment, LLMInferenceService, llm-d-modelservice values,
//! EndpointPickerConfig) under `tests/data`, turned into strict JSON
//! Schema validators (see the crate docs), compiled once per test binary.

use serde_json::{Map, Value, json};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub(crate) fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

pub(crate) fn read_text(path: &Path) -> String {
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

pub(crate) fn yaml_docs(text: &str) -> Vec<Value> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).expect("valid YAML");
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

fn load_json(rel: &str) -> Value {
    serde_json::from_str(&read_text(&data().join(rel))).unwrap()
}

/// Structural schema -> JSON Schema with strict field validation (see module docs).
pub(crate) fn strict(s: &Value) -> Value {
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

pub(crate) struct Validators {
    pub(crate) rbg_v1alpha2: jsonschema::Validator,
    pub(crate) rbg_v1alpha1: jsonschema::Validator,
    /// Pod template patch schema (partial PodTemplateSpec), per RBG version.
    pub(crate) patch_v1alpha2: jsonschema::Validator,
    pub(crate) patch_v1alpha1: jsonschema::Validator,
    pub(crate) pool: jsonschema::Validator,
    pub(crate) keda: jsonschema::Validator,
    pub(crate) service: jsonschema::Validator,
    pub(crate) hpa: jsonschema::Validator,
    pub(crate) service_account: jsonschema::Validator,
    pub(crate) role: jsonschema::Validator,
    pub(crate) role_binding: jsonschema::Validator,
    pub(crate) job: jsonschema::Validator,
    pub(crate) config_map: jsonschema::Validator,
    /// LeaderWorkerSet v1 (derived schema, `tests/data/derived`).
    pub(crate) lws: jsonschema::Validator,
    /// DynamoGraphDeployment v1alpha1 (derived schema, `tests/data/derived`).
    pub(crate) dgd: jsonschema::Validator,
    /// KServe LLMInferenceService v1alpha1 (derived schema, `tests/data/derived`).
    pub(crate) kserve: jsonschema::Validator,
    /// llm-d-modelservice chart values, v0.4.0 (derived schema, `tests/data/derived`).
    pub(crate) llmd_values: jsonschema::Validator,
    /// The llm-d inference scheduler's EndpointPickerConfig (derived schema).
    pub(crate) epp_config: jsonschema::Validator,
    /// Whether the scaling adapter CRD's versions serve the `scale` subresource.
    pub(crate) adapter_scale: Vec<(String, bool)>,
}

pub(crate) fn validators() -> &'static Validators {
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
        // The Kubernetes types the derived schemas embed, from the strict schemas above:
        // controller-gen writes the same k8s.io/api types into every CRD.
        let template =
            roles("v1alpha2")["properties"]["standalonePattern"]["properties"]["template"].clone();
        let pod_spec = template["properties"]["spec"].clone();
        let container = pod_spec["properties"]["containers"]["items"].clone();
        let mut extra_pod_spec = pod_spec.clone();
        // Dynamo's ExtraPodSpec: an inline PodSpec with nothing required, plus the main
        // container.
        extra_pod_spec.as_object_mut().unwrap().remove("required");
        extra_pod_spec["properties"]["mainContainer"] = container.clone();
        let hpa = load_json("k8s/horizontalpodautoscaler-autoscaling-v2.json");
        let keda_crd = load_crd("crds/keda.sh_scaledobjects.yaml");
        let keda_spec = strict(&keda_crd.schema("v1alpha1")["properties"]["spec"]);
        let embedded = |name: &str| -> Value {
            match name {
                "PodTemplateSpec" => template.clone(),
                "PodSpec" => pod_spec.clone(),
                "ExtraPodSpec" => extra_pod_spec.clone(),
                "Container" => container.clone(),
                "EnvVar" => container["properties"]["env"]["items"].clone(),
                "Probe" => container["properties"]["livenessProbe"].clone(),
                "HorizontalPodAutoscalerBehavior" => {
                    hpa["properties"]["spec"]["properties"]["behavior"].clone()
                }
                "MetricSpec" => hpa["properties"]["spec"]["properties"]["metrics"]["items"].clone(),
                "ContainerPort" => container["properties"]["ports"]["items"].clone(),
                "ResourceRequirements" => container["properties"]["resources"].clone(),
                "SecurityContext" => container["properties"]["securityContext"].clone(),
                "VolumeMount" => container["properties"]["volumeMounts"]["items"].clone(),
                "Volume" => pod_spec["properties"]["volumes"]["items"].clone(),
                "KedaScaleTriggers" => keda_spec["properties"]["triggers"]["items"].clone(),
                "KedaAdvancedConfig" => keda_spec["properties"]["advanced"].clone(),
                other => panic!("derived schema embeds unknown type {other}"),
            }
        };
        let derived = |rel: &str| {
            let mut s = embed(&strict(&load_json(rel)), &embedded);
            s.as_object_mut().unwrap().remove("x-xpyd-source");
            s["properties"]["metadata"] = meta.clone();
            compile(&s)
        };
        // Schemas of documents that are not Kubernetes objects (no metadata).
        let plain = |rel: &str| {
            let mut s = embed(&strict(&load_json(rel)), &embedded);
            s.as_object_mut().unwrap().remove("x-xpyd-source");
            compile(&s)
        };
        Validators {
            kserve: derived("derived/serving.kserve.io_llminferenceservices_v1alpha1.json"),
            llmd_values: plain("derived/llm-d-modelservice_values_v0.4.0.json"),
            epp_config: plain("derived/llm-d.ai_endpointpickerconfig_v1alpha1.json"),
            lws: derived("derived/leaderworkerset.x-k8s.io_v1.json"),
            dgd: derived("derived/nvidia.com_dynamographdeployments_v1alpha1.json"),
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

/// Every `{"x-xpyd-k8s": NAME}` node replaced by the strict schema of that Kubernetes
/// type.
fn embed(s: &Value, embedded: &dyn Fn(&str) -> Value) -> Value {
    match s {
        Value::Object(o) => {
            if let Some(Value::String(name)) = o.get("x-xpyd-k8s") {
                return embedded(name);
            }
            Value::Object(
                o.iter()
                    .map(|(k, v)| (k.clone(), embed(v, embedded)))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(|v| embed(v, embedded)).collect()),
        _ => s.clone(),
    }
}

pub(crate) fn schema_errors(v: &jsonschema::Validator, obj: &Value, what: &str) -> Vec<String> {
    v.iter_errors(obj)
        .map(|e| format!("{what}: {}: {e}", e.instance_path()))
        .collect()
}
