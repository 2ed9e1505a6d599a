//! DP-attention and expert parallelism in the emitted engine flags (issue 15 item 1):
//! each engine's own flags, the manifests still valid, and what an engine cannot express
//! an error naming the field.

use crate::specs::{Scaling, assert_valid, emitted, spec};
use crate::trtllm::engine_args;
use xpyd_reports::manifests::{DeploymentSpec, EmitOptions, RoleSpec, RoleTopology, emit_all};
use xpyd_sim::scenario::Backend;

/// `backend`'s spec with the decode role (the aggregated role) split `dp` x `ep`.
fn split(backend: Backend, disagg: bool, dp: u32, ep: u32) -> DeploymentSpec {
    let mut s = spec(backend, disagg, Scaling::None, false);
    let r: &mut RoleSpec = match &mut s.topology {
        RoleTopology::Aggregated(r) => r,
        RoleTopology::Disaggregated { decode, .. } => decode,
    };
    (r.dp, r.ep) = (dp, ep);
    if backend == Backend::Trtllm && !disagg {
        r.engine.block_size = Some(32);
    }
    s
}

fn args(s: &DeploymentSpec, role: &str) -> String {
    let objs = emitted(s, Default::default());
    assert_valid(&objs, role);
    engine_args(&objs, role).join(" ")
}

#[test]
fn each_engine_gets_its_own_flags() {
    // SGLang: the decode role of TP 4 with 4 DP-attention ranks and EP 4.
    let a = args(&split(Backend::Sglang, true, 4, 4), "decode");
    for flag in [
        "--tp-size 4",
        "--dp-size 4",
        "--ep-size 4",
        "--moe-a2a-backend deepep",
        "--enable-dp-attention",
    ] {
        assert!(a.contains(flag), "{flag} in {a}");
    }
    // vLLM counts GPUs as DP x TP, and its EP spans all of them.
    let a = args(&split(Backend::Vllm, false, 2, 2), "worker");
    // Its limits apply per DP engine: the instance's 128 sequences and 8192 tokens
    // over 2 ranks.
    for flag in [
        "--tensor-parallel-size 1",
        "--data-parallel-size 2",
        "--enable-expert-parallel",
        "--max-num-seqs 64",
        "--max-num-batched-tokens 4096",
    ] {
        assert!(a.contains(flag), "{flag} in {a}");
    }
    // Dynamo's TensorRT-LLM workers: attention DP = TP, the batch size per rank.
    let a = args(&split(Backend::Trtllm, true, 4, 4), "decode");
    for flag in [
        "--tensor-parallel-size 4",
        "--expert-parallel-size 4",
        "--enable-attention-dp",
        "--max-batch-size 32",
        "--max-num-tokens 2048",
    ] {
        assert!(a.contains(flag), "{flag} in {a}");
    }
    // Plain TP writes none of them.
    let a = args(&split(Backend::Sglang, true, 1, 1), "decode");
    assert!(!a.contains("--dp-size") && !a.contains("--ep-size"), "{a}");
}

#[test]
fn what_an_engine_cannot_express_names_the_field() {
    let opts = EmitOptions::default();
    let err = |s: &DeploymentSpec| emit_all(s, &opts).unwrap_err().to_string();
    // vLLM's EP spans the instance: EP 2 of the PD decode role's 4 GPUs cannot be said.
    let e = err(&split(Backend::Vllm, true, 1, 2));
    assert!(e.contains("decode.ep") && e.contains("ep = 4 or 1"), "{e}");
    let e = err(&split(Backend::Trtllm, false, 2, 2));
    assert!(e.contains("worker.dp") && e.contains("options file"), "{e}");
    let e = err(&split(Backend::Trtllm, true, 2, 4));
    assert!(e.contains("decode.dp") && e.contains("dp = 4 or 1"), "{e}");
    let e = err(&split(Backend::Sglang, true, 3, 1));
    assert!(
        e.contains("decode.dp") && e.contains("must divide tp = 4"),
        "{e}"
    );
}

/// Speculative decoding (MTP) in each engine's flags; what cannot be emitted is an error.
#[test]
fn mtp_is_switched_on_in_each_engine() {
    use xpyd_reports::manifests::SpecDecode;
    use xpyd_sim::scenario::SpeculativeMethod;
    let with = |backend: Backend, disagg: bool, method: SpeculativeMethod| {
        let mut s = split(backend, disagg, 1, 1);
        s.speculative = Some(SpecDecode {
            method,
            draft_tokens: 3,
        });
        s
    };
    let a = args(
        &with(Backend::Sglang, true, SpeculativeMethod::Mtp),
        "decode",
    );
    for flag in [
        "--speculative-algorithm EAGLE",
        "--speculative-num-steps 3",
        "--speculative-eagle-topk 1",
        "--speculative-num-draft-tokens 4",
    ] {
        assert!(a.contains(flag), "{flag} in {a}");
    }
    let a = args(
        &with(Backend::Vllm, false, SpeculativeMethod::Mtp),
        "worker",
    );
    assert!(
        a.contains(r#"--speculative-config {"method":"mtp","num_speculative_tokens":3}"#),
        "{a}"
    );
    let a = args(
        &with(Backend::Trtllm, true, SpeculativeMethod::Mtp),
        "decode",
    );
    assert!(
        a.contains(r#""speculative_config":{"decoding_type":"MTP","num_nextn_predict_layers":3}"#),
        "{a}"
    );
    let opts = EmitOptions::default();
    let e = emit_all(
        &with(Backend::Sglang, true, SpeculativeMethod::Eagle),
        &opts,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("speculative.method") && e.contains("checkpoint"),
        "{e}"
    );
    let e = emit_all(&with(Backend::Trtllm, false, SpeculativeMethod::Mtp), &opts)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("speculative") && e.contains("options file"),
        "{e}"
    );
}

/// Two-batch overlap in each engine's flags; TensorRT-LLM refuses it by field.
#[test]
fn two_batch_overlap_flags() {
    let tbo = |backend: Backend, disagg: bool| {
        let mut s = split(backend, disagg, 4, 4);
        match &mut s.topology {
            RoleTopology::Aggregated(r) => r.two_batch_overlap = true,
            RoleTopology::Disaggregated { decode, .. } => decode.two_batch_overlap = true,
        }
        s
    };
    let a = args(&tbo(Backend::Sglang, true), "decode");
    assert!(a.contains("--enable-two-batch-overlap"), "{a}");
    let a = args(&tbo(Backend::Vllm, true), "decode");
    assert!(
        a.contains("--enable-dbo") && a.contains("--all2all-backend deepep_low_latency"),
        "{a}"
    );
    let e = emit_all(&tbo(Backend::Trtllm, true), &EmitOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("decode.two_batch_overlap"), "{e}");
    let mut bad = split(Backend::Sglang, true, 1, 4);
    if let RoleTopology::Disaggregated { decode, .. } = &mut bad.topology {
        decode.two_batch_overlap = true;
    }
    let e = emit_all(&bad, &EmitOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("decode.two_batch_overlap") && e.contains("dp > 1"),
        "{e}"
    );
}
