//! The backend-neutral description of a role ([`Role`], [`Container`]) that the
//! backend modules fill in and [`super::rbg`] renders, and the pod-level rendering
//! shared by every role: resources, volumes, probes, labels.
//!
//! Invariants: rendering is a pure function of its input; maps are `BTreeMap`s
//! (serde_json's default map), lists keep the order the backend gave, so output is
//! deterministic. Probes go on the pod that serves HTTP only (the leader of a
//! multi-node instance).

use serde_json::{Map, Value, json};

/// Label naming the deployment on every pod.
pub(crate) const LABEL_NAME: &str = "app.kubernetes.io/name";
/// Label naming the role on every pod.
pub(crate) const LABEL_COMPONENT: &str = "app.kubernetes.io/component";
/// Label on pods that answer HTTP (every pod with probes; of a multi-node instance,
/// the leader only): Services, the InferencePool and router discovery select on it.
pub(crate) const LABEL_SERVING: &str = "xpyd.io/serving";
/// Label marking what manages the objects.
pub(crate) const LABEL_MANAGED: &str = "app.kubernetes.io/managed-by";

/// HTTP port of every engine, router and frontend.
pub(crate) const HTTP_PORT: u16 = 8000;
/// Where the model PVC is mounted.
pub(crate) const MODEL_MOUNT: &str = "/models";

/// Environment variable value.
#[derive(Clone, Debug)]
pub(crate) enum EnvValue {
    /// A literal.
    Value(String),
    /// A pod field (`status.podIP`).
    Field(&'static str),
}

/// HTTP probes of a serving container.
#[derive(Clone, Debug)]
pub(crate) struct Probes {
    /// Port the probes hit.
    pub(crate) port: u16,
    /// Readiness (and startup) path.
    pub(crate) ready_path: &'static str,
    /// Liveness path.
    pub(crate) live_path: &'static str,
    /// Seconds the container may take to come up (weight loading, CUDA graphs).
    pub(crate) startup_budget_s: u32,
}

/// Compute resources of one pod's main container.
#[derive(Clone, Debug, Default)]
pub(crate) struct Resources {
    /// CPU request (cores, a quantity string).
    pub(crate) cpu: &'static str,
    /// Memory request (a quantity string).
    pub(crate) memory: &'static str,
    /// GPUs (`nvidia.com/gpu`), requests = limits.
    pub(crate) gpus: u32,
    /// RDMA extended resource, one per pod.
    pub(crate) rdma: Option<String>,
    /// Node labels the pod must land on (`nodeSelector`; the role's GPU type).
    pub(crate) node_selector: Vec<(String, String)>,
}

/// The main container of a role's pods.
#[derive(Clone, Debug)]
pub(crate) struct Container {
    /// Container name.
    pub(crate) name: &'static str,
    /// Image.
    pub(crate) image: String,
    /// Entrypoint.
    pub(crate) command: Vec<String>,
    /// Arguments (of the leader, for a multi-node instance).
    pub(crate) args: Vec<String>,
    /// Arguments of the worker pods of a multi-node instance, when they differ.
    pub(crate) worker_args: Option<Vec<String>>,
    /// Environment, in order (later entries may refer to earlier ones as `$(NAME)`).
    pub(crate) env: Vec<(String, EnvValue)>,
    /// Named container ports.
    pub(crate) ports: Vec<(&'static str, u16)>,
    /// Probes, when the container serves HTTP.
    pub(crate) probes: Option<Probes>,
    /// Resources.
    pub(crate) resources: Resources,
    /// Mount the model PVC read-only at [`MODEL_MOUNT`].
    pub(crate) model_volume: bool,
    /// Mount a memory-backed `/dev/shm` (NCCL, engine IPC).
    pub(crate) shm: bool,
    /// Add `IPC_LOCK` (RDMA memory registration).
    pub(crate) ipc_lock: bool,
}

impl Container {
    /// A container with no ports, env, probes, resources or volumes.
    pub(crate) fn new(
        name: &'static str,
        image: &str,
        command: &[&str],
        args: Vec<String>,
    ) -> Self {
        Container {
            name,
            image: image.to_string(),
            command: command.iter().map(|s| s.to_string()).collect(),
            args,
            worker_args: None,
            env: Vec::new(),
            ports: Vec::new(),
            probes: None,
            resources: Resources::default(),
            model_volume: false,
            shm: false,
            ipc_lock: false,
        }
    }
}

/// One RBG role.
#[derive(Clone, Debug)]
pub(crate) struct Role {
    /// Role name (`router`, `prefill`, `decode`, `worker`, `frontend`, `etcd`, `nats`).
    pub(crate) name: &'static str,
    /// Instances.
    pub(crate) replicas: u32,
    /// Pods per instance: 1, or leader + workers for TP across nodes.
    pub(crate) pods_per_instance: u32,
    /// The main container.
    pub(crate) container: Container,
    /// Roles that must be ready first.
    pub(crate) dependencies: Vec<&'static str>,
    /// Enable the RBG scaling adapter (an autoscaler targets this role).
    pub(crate) scaling_adapter: bool,
    /// The entry role: the Service and InferencePool select its serving pods.
    pub(crate) entry: bool,
    /// Pod annotations.
    pub(crate) annotations: Vec<(&'static str, String)>,
    /// ServiceAccount of the pods (`None`: the namespace default).
    pub(crate) service_account: Option<String>,
}

/// Env vars RBG injects into the pods of a multi-node instance.
#[derive(Copy, Clone, Debug)]
pub(crate) struct GroupEnv {
    /// DNS name of the instance's leader pod.
    pub(crate) leader_address: &'static str,
    /// Pods in the instance.
    pub(crate) group_size: &'static str,
    /// This pod's index in the instance (leader 0).
    pub(crate) worker_index: &'static str,
}

/// `$(NAME)`: a reference Kubernetes expands in `command`/`args`.
pub(crate) fn var(name: &str) -> String {
    format!("$({name})")
}

/// A user-given string (a path, a model name) as a `command`/`args` item Kubernetes passes
/// through unchanged: it expands `$(NAME)` and turns `$$` into `$`, so every `$` is
/// doubled (`a$(B)` -> `a$$(B)`, which the kubelet turns back into `a$(B)`).
pub(crate) fn literal(s: &str) -> String {
    s.replace('$', "$$")
}

/// Labels of a role's pods (the serving label is added by the caller where it applies).
pub(crate) fn pod_labels(deployment: &str, role: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(LABEL_NAME.into(), deployment.into());
    m.insert(LABEL_COMPONENT.into(), role.into());
    m
}

/// The probes of a container, as `(field, probe)` pairs.
pub(crate) fn probes_json(p: &Probes) -> Vec<(&'static str, Value)> {
    let get = |path: &str| json!({"path": path, "port": p.port});
    vec![
        (
            "startupProbe",
            json!({
                "httpGet": get(p.ready_path),
                "periodSeconds": 10,
                "failureThreshold": p.startup_budget_s.div_ceil(10).max(1),
            }),
        ),
        (
            "readinessProbe",
            json!({
                "httpGet": get(p.ready_path),
                "periodSeconds": 10,
                "timeoutSeconds": 5,
                "failureThreshold": 3,
            }),
        ),
        (
            "livenessProbe",
            json!({
                "httpGet": get(p.live_path),
                "periodSeconds": 30,
                "timeoutSeconds": 10,
                "failureThreshold": 5,
            }),
        ),
    ]
}

/// The container object; probes included only when `with_probes`.
pub(crate) fn container_json(c: &Container, with_probes: bool) -> Value {
    let mut o = Map::new();
    o.insert("name".into(), c.name.into());
    o.insert("image".into(), c.image.clone().into());
    o.insert("command".into(), c.command.clone().into());
    if !c.args.is_empty() {
        o.insert("args".into(), c.args.clone().into());
    }
    if !c.env.is_empty() {
        let env: Vec<Value> = c
            .env
            .iter()
            .map(|(k, v)| match v {
                EnvValue::Value(s) => json!({"name": k, "value": s}),
                EnvValue::Field(f) => {
                    json!({"name": k, "valueFrom": {"fieldRef": {"fieldPath": f}}})
                }
            })
            .collect();
        o.insert("env".into(), env.into());
    }
    if !c.ports.is_empty() {
        let ports: Vec<Value> = c
            .ports
            .iter()
            .map(|(n, p)| json!({"name": n, "containerPort": p, "protocol": "TCP"}))
            .collect();
        o.insert("ports".into(), ports.into());
    }
    let r = &c.resources;
    let mut requests = Map::new();
    let mut limits = Map::new();
    if !r.cpu.is_empty() {
        requests.insert("cpu".into(), r.cpu.into());
    }
    if !r.memory.is_empty() {
        requests.insert("memory".into(), r.memory.into());
    }
    if r.gpus > 0 {
        // Extended resources: requests must equal limits.
        requests.insert("nvidia.com/gpu".into(), r.gpus.to_string().into());
        limits.insert("nvidia.com/gpu".into(), r.gpus.to_string().into());
    }
    if let Some(rdma) = &r.rdma {
        requests.insert(rdma.clone(), "1".into());
        limits.insert(rdma.clone(), "1".into());
    }
    let mut res = Map::new();
    if !requests.is_empty() {
        res.insert("requests".into(), requests.into());
    }
    if !limits.is_empty() {
        res.insert("limits".into(), limits.into());
    }
    if !res.is_empty() {
        o.insert("resources".into(), res.into());
    }
    let mut mounts = Vec::new();
    if c.model_volume {
        mounts.push(json!({"name": "model", "mountPath": MODEL_MOUNT, "readOnly": true}));
    }
    if c.shm {
        mounts.push(json!({"name": "dshm", "mountPath": "/dev/shm"}));
    }
    if !mounts.is_empty() {
        o.insert("volumeMounts".into(), mounts.into());
    }
    if c.ipc_lock {
        o.insert(
            "securityContext".into(),
            json!({"capabilities": {"add": ["IPC_LOCK"]}}),
        );
    }
    if with_probes && let Some(p) = &c.probes {
        for (k, v) in probes_json(p) {
            o.insert(k.into(), v);
        }
    }
    Value::Object(o)
}

/// The pod volumes a container needs.
pub(crate) fn volumes_json(c: &Container, pvc: &str) -> Vec<Value> {
    let mut v = Vec::new();
    if c.model_volume {
        v.push(
            json!({"name": "model", "persistentVolumeClaim": {"claimName": pvc, "readOnly": true}}),
        );
    }
    if c.shm {
        v.push(json!({"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "30Gi"}}));
    }
    v
}

/// A pod template: labels and annotations, the container, its volumes.
pub(crate) fn pod_template(
    labels: Map<String, Value>,
    r: &Role,
    pvc: &str,
    with_probes: bool,
) -> Value {
    let c = &r.container;
    let mut spec = Map::new();
    if let Some(sa) = &r.service_account {
        spec.insert("serviceAccountName".into(), sa.clone().into());
    }
    spec.insert("containers".into(), json!([container_json(c, with_probes)]));
    let vols = volumes_json(c, pvc);
    if !vols.is_empty() {
        spec.insert("volumes".into(), vols.into());
    }
    if !c.resources.node_selector.is_empty() {
        let sel: Map<String, Value> = c
            .resources
            .node_selector
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        spec.insert("nodeSelector".into(), sel.into());
    }
    if c.resources.gpus > 0 {
        // Give in-flight requests time to finish on scale-down.
        spec.insert("terminationGracePeriodSeconds".into(), 120.into());
    }
    let mut meta = Map::new();
    meta.insert("labels".into(), labels.into());
    if !r.annotations.is_empty() {
        let a: Map<String, Value> = r
            .annotations
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
            .collect();
        meta.insert("annotations".into(), a.into());
    }
    json!({"metadata": meta, "spec": spec})
}
