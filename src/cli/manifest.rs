//! `xpyd manifest`: write the Kubernetes manifests of a scenario's deployment
//! (RoleBasedGroup, Service, InferencePool, autoscalers) to `DIR/manifests/`.
//!
//! Flags override the spec built from the scenario in one place ([`spec_from_args`]);
//! files are written atomically, so an interrupted run leaves no half-written YAML.

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use xpyd_reports::atomic::write_file;
use xpyd_reports::manifests::{
    DeploymentSpec, EmitOptions, LLMD_VALUES_FILE, RbgApi, Target, emit_all,
};
use xpyd_sim::scenario::{self, Backend, Overrides, Scenario};

/// RBG API version on the command line.
#[derive(Copy, Clone, Debug, Default, ValueEnum)]
pub(crate) enum RbgApiArg {
    /// `workloads.x-k8s.io/v1alpha2` (current).
    #[default]
    V1alpha2,
    /// `workloads.x-k8s.io/v1alpha1` (older clusters, ACK guides).
    V1alpha1,
}

impl From<RbgApiArg> for RbgApi {
    fn from(a: RbgApiArg) -> RbgApi {
        match a {
            RbgApiArg::V1alpha2 => RbgApi::V1alpha2,
            RbgApiArg::V1alpha1 => RbgApi::V1alpha1,
        }
    }
}

/// Deploy target on the command line.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum TargetArg {
    /// RoleBasedGroup with Service, InferencePool and HPA/KEDA autoscalers.
    #[default]
    Rbg,
    /// One LeaderWorkerSet per role (leader + workers when TP spans nodes), same
    /// Service, InferencePool and autoscalers.
    Lws,
    /// DynamoGraphDeployment for the Dynamo operator.
    Dgd,
    /// Helm values for llm-d's llm-d-modelservice chart, the endpoint picker's
    /// configuration, an InferencePool and autoscalers (vLLM only).
    #[value(name = "llm-d")]
    LlmD,
    /// KServe LLMInferenceService (vLLM only; KEDA scaling).
    Kserve,
}

impl From<TargetArg> for Target {
    fn from(t: TargetArg) -> Target {
        match t {
            TargetArg::Rbg => Target::Rbg,
            TargetArg::Lws => Target::Lws,
            TargetArg::Dgd => Target::Dgd,
            TargetArg::LlmD => Target::LlmD,
            TargetArg::Kserve => Target::Kserve,
        }
    }
}

/// Serving stack on the command line.
#[derive(Copy, Clone, Debug, ValueEnum)]
pub(crate) enum BackendArg {
    /// SGLang PD with the SGLang Model Gateway.
    Sglang,
    /// vLLM with a kv-transfer connector.
    Vllm,
    /// NVIDIA Dynamo (vLLM workers, etcd, NATS).
    Dynamo,
    /// TensorRT-LLM: `trtllm-serve` when aggregated, Dynamo with TensorRT-LLM workers
    /// when disaggregated.
    Trtllm,
}

#[derive(Debug, Default, Args)]
pub(crate) struct ManifestArgs {
    /// Scenario file (TOML). Without one, the built-in default scenario is used.
    scenario: Option<PathBuf>,
    /// Output folder; manifests go to DIR/manifests/ [default: xpyd-out].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// What to deploy with.
    #[arg(long, value_enum, default_value_t)]
    target: TargetArg,
    /// RoleBasedGroup API version (target rbg) [default: v1alpha2].
    #[arg(long, value_enum)]
    rbg_api: Option<RbgApiArg>,
    /// Serving stack (default: the scenario's). Changing it resets the images to its defaults.
    #[arg(long, value_enum)]
    backend: Option<BackendArg>,
    /// Engine image (default: a pinned image of the backend).
    #[arg(long, value_name = "IMAGE")]
    image: Option<String>,
    /// PD router image (SGLang and vLLM).
    #[arg(long, value_name = "IMAGE")]
    router_image: Option<String>,
    /// PersistentVolumeClaim holding the weights under `/models/<HF repo>`.
    #[arg(long, value_name = "NAME")]
    pvc: Option<String>,
    /// Namespace of every object.
    #[arg(long, value_name = "NS")]
    namespace: Option<String>,
    /// Deployment name (default: the scenario name).
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// RDMA extended resource requested once per engine pod, e.g. rdma/hca.
    #[arg(long, value_name = "RESOURCE")]
    rdma_resource: Option<String>,
    /// Set any scenario field before building the deployment (as `xpyd run --set`).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

/// Load the scenario (built-in default without a path) with `--set` applied.
fn load(args: &ManifestArgs) -> Result<Scenario> {
    let ov = Overrides {
        sets: args.set.clone(),
        ..Overrides::default()
    };
    Ok(Scenario::load_with(args.scenario.as_deref(), &ov)?)
}

/// The deployment spec of the scenario with every flag applied (the only place flags
/// change it).
pub(crate) fn spec_from_args(sc: &Scenario, args: &ManifestArgs) -> DeploymentSpec {
    let mut spec = DeploymentSpec::from_scenario(sc);
    if let Some(b) = args.backend {
        spec.set_backend(match b {
            BackendArg::Sglang => Backend::Sglang,
            BackendArg::Vllm => Backend::Vllm,
            BackendArg::Dynamo => Backend::Dynamo,
            BackendArg::Trtllm => Backend::Trtllm,
        });
    }
    if let Some(i) = &args.image {
        spec.images.engine = i.clone();
    }
    if let Some(i) = &args.router_image {
        spec.images.router = i.clone();
    }
    if let Some(p) = &args.pvc {
        spec.model_pvc = p.clone();
    }
    if let Some(ns) = &args.namespace {
        spec.namespace = ns.clone();
    }
    if let Some(n) = &args.name {
        spec.set_name(n);
    }
    if let Some(r) = &args.rdma_resource {
        spec.rdma_resource = Some(r.clone());
    }
    spec
}

/// The target and RBG API of the flags; `--rbg-api` only goes with `--target rbg`.
fn emit_options(args: &ManifestArgs) -> Result<EmitOptions> {
    if let (Some(_), TargetArg::Lws | TargetArg::Dgd | TargetArg::LlmD | TargetArg::Kserve) =
        (args.rbg_api, args.target)
    {
        anyhow::bail!(
            "--rbg-api applies to --target rbg only, not --target {}",
            Target::from(args.target).name()
        );
    }
    Ok(EmitOptions {
        rbg_api: args.rbg_api.unwrap_or_default().into(),
        target: args.target.into(),
    })
}

pub(crate) fn run(args: ManifestArgs) -> Result<()> {
    let opts = emit_options(&args)?;
    let sc = load(&args)?;
    let spec = spec_from_args(&sc, &args);
    let files = emit_all(&spec, &opts).context("building the manifests")?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("xpyd-out"))
        .join("manifests");
    std::fs::create_dir_all(&out)
        .with_context(|| format!("{}: cannot create output folder", out.display()))?;
    // Each file is written atomically in place: a signal removes the partial ones.
    let _cleanup =
        super::interrupt::remove_on_signal(super::interrupt::Pending::Partials(out.clone()));
    for (name, text) in &files {
        let path = out.join(name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("{}: cannot create output folder", dir.display()))?;
        }
        write_file(&path, text.as_bytes())?;
    }
    println!(
        "xpyd: {} ({} {}, target {}) -> {}: {}",
        spec.name,
        spec.backend.name(),
        scenario::mode_name(&sc.topology),
        opts.target.name(),
        out.display(),
        files
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let quote = xpyd_reports::manifests::job::shell_quote;
    if opts.target == Target::LlmD {
        println!(
            "install with: helm install {} llm-d-modelservice/llm-d-modelservice --version v0.4.0 -n {} -f {}",
            spec.name,
            spec.namespace,
            quote(&out.join(LLMD_VALUES_FILE).display().to_string())
        );
    }
    println!(
        "apply with: kubectl apply -f {}",
        quote(&out.display().to_string())
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_scenario_writes_manifests() {
        let dir = std::env::temp_dir().join(format!("xpyd-manifest-test-{}", std::process::id()));
        let args = ManifestArgs {
            out: Some(dir.clone()),
            namespace: Some("llm".into()),
            rdma_resource: Some("rdma/hca".into()),
            ..ManifestArgs::default()
        };
        run(args).unwrap();
        let rbg = std::fs::read_to_string(dir.join("manifests/rolebasedgroup.yaml")).unwrap();
        assert!(rbg.contains("workloads.x-k8s.io/v1alpha2"));
        assert!(rbg.contains("--disaggregation-mode"));
        assert!(rbg.contains("namespace: llm"));
        assert!(dir.join("manifests/inferencepool.yaml").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn llm_d_values_go_beside_the_manifests() {
        let dir = std::env::temp_dir().join(format!("xpyd-manifest-llmd-{}", std::process::id()));
        let args = ManifestArgs {
            out: Some(dir.clone()),
            target: TargetArg::LlmD,
            backend: Some(BackendArg::Vllm),
            // The default scenario routes round-robin, which the llm-d scheduler lacks.
            set: vec!["deployment.decode.router=\"cache-aware\"".into()],
            ..ManifestArgs::default()
        };
        run(args).unwrap();
        let m = dir.join("manifests");
        let values = std::fs::read_to_string(m.join(LLMD_VALUES_FILE)).unwrap();
        assert!(values.contains("modelCommand: vllmServe"), "{values}");
        let epp = std::fs::read_to_string(m.join("epp-config.yaml")).unwrap();
        assert!(epp.contains("prefix-cache-scorer"), "{epp}");
        assert!(m.join("inferencepool.yaml").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn targets_refuse_what_they_cannot_express() {
        let args = ManifestArgs {
            target: TargetArg::LlmD,
            backend: Some(BackendArg::Vllm),
            ..ManifestArgs::default()
        };
        let e = format!("{:#}", run(args).unwrap_err());
        assert!(e.contains("llm-d") && e.contains("round-robin"), "{e}");
        let args = ManifestArgs {
            target: TargetArg::Kserve,
            backend: Some(BackendArg::Sglang),
            ..ManifestArgs::default()
        };
        let e = format!("{:#}", run(args).unwrap_err());
        assert!(
            e.contains("kserve") && e.contains("allowed backend: vllm"),
            "{e}"
        );
    }

    #[test]
    fn rbg_api_goes_with_the_rbg_target_only() {
        let args = ManifestArgs {
            target: TargetArg::Dgd,
            rbg_api: Some(RbgApiArg::V1alpha1),
            ..ManifestArgs::default()
        };
        let e = emit_options(&args).unwrap_err().to_string();
        assert!(e.contains("--rbg-api") && e.contains("dgd"), "{e}");
        let args = ManifestArgs {
            target: TargetArg::Lws,
            ..ManifestArgs::default()
        };
        assert_eq!(emit_options(&args).unwrap().target, Target::Lws);
    }

    #[test]
    fn flags_override_the_scenario() {
        let args = ManifestArgs {
            backend: Some(BackendArg::Dynamo),
            pvc: Some("weights".into()),
            name: Some("demo".into()),
            ..ManifestArgs::default()
        };
        let sc = load(&args).unwrap();
        let spec = spec_from_args(&sc, &args);
        assert_eq!(spec.backend, Backend::Dynamo);
        assert!(spec.images.engine.contains("dynamo"));
        assert_eq!(spec.model_pvc, "weights");
        assert_eq!(spec.gateway.epp_service, "demo-epp");
    }
}
