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
//!
//! Layout: `schema` turns the vendored CRDs and Kubernetes schemas into strict JSON Schema
//! validators; `validate` checks one object (schema, CEL, API-server rules); `wiring`
//! checks how the objects of one deployment refer to each other; `specs` builds the
//! deployment specs under test and emits them. The tests, by manifest family:
//! `deployments` (every backend x API x mode x autoscaler combination, determinism,
//! invalid specs, the shipped scenarios), `rbg` (RoleBasedGroup layout and commands),
//! `broken` (deliberately broken RBG, InferencePool, HPA, KEDA, Service objects and
//! wiring), `autoscaling` (simulated autoscalers as HPA and KEDA objects), `job` (the
//! plan Job and its ConfigMap), `reference` (the reference examples and CRDs) and
//! `golden` (snapshots).

mod autoscaling;
mod broken;
mod deployments;
mod golden;
mod job;
mod llmd_kserve;
mod parallel;
mod rbg;
mod reference;
mod schema;
mod specs;
mod targets;
mod trtllm;
mod validate;
mod wiring;
