//! NVIDIA Dynamo roles: the frontend (`dynamo.frontend`, HTTP API + router), vLLM
//! workers (`dynamo.vllm`, prefill workers with `--is-prefill-worker`), and the etcd
//! (discovery) and NATS (request plane, KV events; JetStream on) they depend on.
//!
//! Follows `examples/rbg/inference__ecosystem__dynamo__pd-disagg.yaml` (processor role
//! `python3 -m dynamo.frontend --http-port 8000` with `/health` probes; workers with
//! `DYN_NAMESPACE`, `ETCD_ENDPOINTS`, `NATS_SERVER`), its multi-node variant
//! `inference__ecosystem__dynamo__pd-disagg-multi-nodes.yaml`, and the dependency
//! ordering of `basic__rbg__dependency__role-dependencies.yaml`. The examples expect
//! etcd and NATS deployed beforehand; here they are roles of the same group, so the
//! group is self-contained and the workers start after them (`dependencies`).
//! Workers are vLLM, the engine the simulator models for Dynamo; they expose Dynamo's
//! system status server on `DYN_SYSTEM_PORT` (`/health`, `/live`) for probes. The
//! frontend, etcd and NATS roles also serve Dynamo with TensorRT-LLM workers
//! (`trtllm.rs`).
//!
//! Invariant: every Dynamo process of one deployment shares `DYN_NAMESPACE` = the
//! deployment name, so two deployments on one etcd never see each other's workers.

use super::pod::{Container, EnvValue, HTTP_PORT, MODEL_MOUNT, Probes, Role, literal};
use super::spec::{DeploymentSpec, RoleSpec, RoleTopology, RouterPolicy, TransferBackend};
use super::vllm::{MASTER_PORT, NIXL_PORT, engine_args, kv_transfer_config, multi_node_args};
use super::{Layout, equip_engine, instance_shape};

/// Port of Dynamo's system status server on workers.
pub(super) const SYSTEM_PORT: u16 = 9090;
const ETCD_PORT: u16 = 2379;
const NATS_PORT: u16 = 4222;
const NATS_MONITOR_PORT: u16 = 8222;

pub(super) fn runtime_env(spec: &DeploymentSpec, layout: Layout) -> Vec<(String, EnvValue)> {
    vec![
        ("POD_IP".into(), EnvValue::Field("status.podIP")),
        ("DYN_NAMESPACE".into(), EnvValue::Value(spec.name.clone())),
        (
            "ETCD_ENDPOINTS".into(),
            EnvValue::Value(format!(
                "http://{}:{ETCD_PORT}",
                layout.pod_host(&spec.name, "etcd", 0)
            )),
        ),
        (
            "NATS_SERVER".into(),
            EnvValue::Value(format!(
                "nats://{}:{NATS_PORT}",
                layout.pod_host(&spec.name, "nats", 0)
            )),
        ),
    ]
}

/// Env of a Dynamo worker: the runtime's, with the system status server on
/// [`SYSTEM_PORT`].
pub(super) fn worker_env(spec: &DeploymentSpec, layout: Layout) -> Vec<(String, EnvValue)> {
    let mut env = runtime_env(spec, layout);
    env.push(("DYN_SYSTEM_ENABLED".into(), EnvValue::Value("true".into())));
    env.push((
        "DYN_SYSTEM_PORT".into(),
        EnvValue::Value(SYSTEM_PORT.to_string()),
    ));
    env
}

/// Probes of a Dynamo worker: its system status server.
pub(super) fn worker_probes() -> Probes {
    Probes {
        port: SYSTEM_PORT,
        ready_path: "/health",
        live_path: "/live",
        startup_budget_s: 1800,
    }
}

/// The frontend and engine roles of a Dynamo deployment with vLLM workers, without the
/// etcd and NATS roles (the `dgd` target: the Dynamo platform runs those).
pub(crate) fn graph_roles(spec: &DeploymentSpec) -> Vec<Role> {
    let mut roles = roles(spec, Layout::Dgd);
    roles.retain(|r| !matches!(r.name, "etcd" | "nats"));
    roles
}

/// The roles of a Dynamo deployment.
pub(crate) fn roles(spec: &DeploymentSpec, layout: Layout) -> Vec<Role> {
    let mut roles = vec![frontend(spec, layout)];
    match &spec.topology {
        RoleTopology::Aggregated(r) => roles.push(worker(spec, layout, "worker", r, None)),
        RoleTopology::Disaggregated { prefill, decode } => {
            roles.push(worker(spec, layout, "prefill", prefill, Some("prefill")));
            roles.push(worker(spec, layout, "decode", decode, Some("decode")));
        }
    }
    roles.push(etcd(spec, layout));
    roles.push(nats(spec));
    roles
}

pub(super) fn frontend(spec: &DeploymentSpec, layout: Layout) -> Role {
    let mode = match spec.router {
        RouterPolicy::RoundRobin => "round-robin",
        RouterPolicy::Random => "random",
        RouterPolicy::PowerOfTwo | RouterPolicy::CacheAware => "kv",
    };
    let args = ["--http-port", &HTTP_PORT.to_string(), "--router-mode", mode].map(String::from);
    let mut c = Container::new(
        "frontend",
        &spec.images.engine,
        &["python3", "-m", "dynamo.frontend"],
        args.to_vec(),
    );
    c.env = runtime_env(spec, layout);
    c.ports = vec![("http", HTTP_PORT)];
    c.probes = Some(Probes {
        port: HTTP_PORT,
        ready_path: "/health",
        live_path: "/health",
        startup_budget_s: 300,
    });
    c.resources.cpu = "2";
    c.resources.memory = "8Gi";
    Role {
        name: "frontend",
        replicas: 1,
        pods_per_instance: 1,
        container: c,
        dependencies: vec!["etcd", "nats"],
        scaling_adapter: false,
        entry: true,
        annotations: Vec::new(),
        service_account: None,
    }
}

fn worker(
    spec: &DeploymentSpec,
    layout: Layout,
    name: &'static str,
    r: &RoleSpec,
    pd_role: Option<&str>,
) -> Role {
    let (pods, _) = instance_shape(r);
    let mut a = vec![
        "--model".to_string(),
        literal(&format!("{MODEL_MOUNT}/{}", spec.model.hf_repo)),
    ];
    a.extend(engine_args(spec, r));
    a.extend(super::vllm::dbo_args(r, pd_role));
    let mut env = worker_env(spec, layout);
    let mut ports = vec![("system", SYSTEM_PORT)];
    if let Some(pd) = pd_role {
        if pd == "prefill" {
            a.push("--is-prefill-worker".into());
        }
        a.push("--kv-transfer-config".into());
        a.push(kv_transfer_config(spec.transfer_backend, pd));
        if spec.transfer_backend == TransferBackend::Nixl {
            env.push((
                "VLLM_NIXL_SIDE_CHANNEL_HOST".into(),
                EnvValue::Value(super::pod::var("POD_IP")),
            ));
            ports.push(("nixl", NIXL_PORT));
        }
    }
    let mut worker_args = None;
    if pods > 1 {
        a.extend(multi_node_args(layout, pods));
        let mut w = a.clone();
        w.push("--headless".into());
        worker_args = Some(w);
        ports.push(("dist", MASTER_PORT));
    }
    let mut c = Container::new(
        "engine",
        &spec.images.engine,
        &["python3", "-m", "dynamo.vllm"],
        a,
    );
    c.worker_args = worker_args;
    c.env = env;
    c.ports = ports;
    c.probes = Some(worker_probes());
    equip_engine(&mut c, spec, r);
    Role {
        name,
        replicas: r.replicas,
        pods_per_instance: pods,
        container: c,
        dependencies: vec!["etcd", "nats"],
        scaling_adapter: r.autoscaling.is_some(),
        entry: false,
        annotations: Vec::new(),
        service_account: None,
    }
}

pub(super) fn etcd(spec: &DeploymentSpec, layout: Layout) -> Role {
    let host = layout.pod_host(&spec.name, "etcd", 0);
    let args = [
        "--name=etcd".to_string(),
        "--data-dir=/tmp/etcd".to_string(),
        format!("--listen-client-urls=http://0.0.0.0:{ETCD_PORT}"),
        format!("--advertise-client-urls=http://{host}:{ETCD_PORT}"),
    ];
    let mut c = Container::new("etcd", &spec.images.etcd, &["etcd"], args.to_vec());
    c.ports = vec![("client", ETCD_PORT)];
    c.probes = Some(Probes {
        port: ETCD_PORT,
        ready_path: "/health",
        live_path: "/health",
        startup_budget_s: 120,
    });
    c.resources.cpu = "500m";
    c.resources.memory = "1Gi";
    Role {
        name: "etcd",
        replicas: 1,
        pods_per_instance: 1,
        container: c,
        dependencies: Vec::new(),
        scaling_adapter: false,
        entry: false,
        annotations: Vec::new(),
        service_account: None,
    }
}

pub(super) fn nats(spec: &DeploymentSpec) -> Role {
    let args = [
        "-js",
        "--port",
        &NATS_PORT.to_string(),
        "-m",
        &NATS_MONITOR_PORT.to_string(),
    ]
    .map(String::from);
    let mut c = Container::new("nats", &spec.images.nats, &["nats-server"], args.to_vec());
    c.ports = vec![("client", NATS_PORT), ("monitor", NATS_MONITOR_PORT)];
    c.probes = Some(Probes {
        port: NATS_MONITOR_PORT,
        ready_path: "/healthz",
        live_path: "/healthz",
        startup_budget_s: 120,
    });
    c.resources.cpu = "500m";
    c.resources.memory = "1Gi";
    Role {
        name: "nats",
        replicas: 1,
        pods_per_instance: 1,
        container: c,
        dependencies: Vec::new(),
        scaling_adapter: false,
        entry: false,
        annotations: Vec::new(),
        service_account: None,
    }
}
