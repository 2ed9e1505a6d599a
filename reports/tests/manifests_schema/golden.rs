//! Golden manifests: the full output of three representative deployments, reviewed as
//! insta snapshots in `snapshots/`.

use crate::specs::{Scaling, spec};
use xpyd_reports::manifests::{EmitOptions, RbgApi, emit_all};
use xpyd_sim::scenario::Backend;

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
        let all: String = emit_all(
            &s,
            &EmitOptions {
                rbg_api: api,
                ..EmitOptions::default()
            },
        )
        .unwrap()
        .into_iter()
        .map(|(file, text)| format!("--- # {file}\n{text}"))
        .collect();
        insta::assert_snapshot!(name, all);
    }
}
