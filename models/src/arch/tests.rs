use super::*;

fn b(x: f64) -> f64 {
    x / 1e9
}

/// A fresh directory under the system temp dir for one test.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xpyd-models-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

fn write_config(name: &str, json: &str) -> PathBuf {
    let dir = temp_dir(name);
    let path = dir.join("config.json");
    std::fs::write(&path, json).expect("write config");
    path
}

#[test]
fn catalog_resolves_and_is_consistent() {
    for id in ModelArch::catalog_ids() {
        let a = ModelArch::resolve(id).expect("catalog id resolves");
        assert_eq!(&a.id, id);
        assert!(a.hidden_size > 0 && a.num_layers > 0 && a.head_dim > 0);
        if a.mla.is_none() {
            assert!(a.num_heads.is_multiple_of(a.num_kv_heads), "{id}");
        }
        assert!(a.active_param_count() <= a.param_count());
        assert!(a.hf_repo.contains('/'));
    }
}

#[test]
fn unknown_id_lists_catalog() {
    let e = ModelArch::resolve("gpt-5").unwrap_err().to_string();
    assert!(
        e.contains("gpt-5") && e.contains("qwen3-32b") && e.contains("deepseek-v3"),
        "{e}"
    );
}

/// FP8 checkpoints keep the embedding and lm_head in BF16: one byte per parameter but two
/// for those (once when tied), routed experts in their own format, BF16 unchanged.
#[test]
fn fp8_weights_keep_the_embeddings_in_bf16() {
    let dense = ModelArch::builtin("llama-3.1-70b").unwrap();
    let emb = dense.embedding_params();
    assert_eq!(emb, 2.0 * 128_256.0 * 8_192.0);
    assert_eq!(dense.weight_bytes(Dtype::Bf16), 2.0 * dense.param_count());
    assert_eq!(dense.weight_bytes(Dtype::Fp8), dense.param_count() + emb);
    let mut tied = dense.clone();
    tied.tie_word_embeddings = true;
    assert_eq!(tied.embedding_params(), emb / 2.0);
    assert_eq!(
        tied.weight_bytes(Dtype::Fp8),
        tied.param_count() + tied.embedding_params()
    );
    // MoE: the routed experts at their own format, the embeddings at BF16, nothing twice.
    let moe = ModelArch::builtin("deepseek-v3").unwrap();
    let routed = moe.routed_expert_params();
    let expert = moe.moe.as_ref().unwrap().expert_weights.bytes(Dtype::Fp8);
    let want = (moe.param_count() - routed - moe.embedding_params())
        + 2.0 * moe.embedding_params()
        + routed * expert;
    assert_eq!(moe.weight_bytes(Dtype::Fp8), want);
}

#[test]
fn param_counts_match_published_sizes() {
    let p = |id: &str| ModelArch::builtin(id).unwrap();
    let within = |x: f64, lo: f64, hi: f64| assert!(x >= lo && x <= hi, "{x} not in [{lo}, {hi}]");
    within(b(p("qwen3-8b").param_count()), 8.1, 8.3); // 8.2B
    within(b(p("qwen3-32b").param_count()), 32.5, 33.0); // 32.8B
    within(b(p("llama-3.1-8b").param_count()), 8.0, 8.06); // 8.03B
    within(b(p("llama-3.1-70b").param_count()), 70.4, 70.8); // 70.6B
    within(b(p("llama-2-70b").param_count()), 68.8, 69.1); // 69.0B
    let q = p("qwen3-235b-a22b");
    within(b(q.param_count()), 234.0, 236.0); // 235B
    within(b(q.active_param_count()), 21.5, 22.5); // 22B
    let d = p("deepseek-v3");
    within(b(d.param_count()), 669.0, 673.0); // 671B (without the MTP layer)
    within(b(d.active_param_count()), 36.5, 38.0); // 37B
    let l = p("llama-3.1-8b");
    assert_eq!(l.param_count(), l.active_param_count());
}

#[test]
fn exact_param_count_llama_3_1_8b() {
    // Sum of the safetensors shapes of meta-llama/Llama-3.1-8B: 8,030,261,248.
    assert_eq!(
        ModelArch::builtin("llama-3.1-8b").unwrap().param_count(),
        8_030_261_248.0
    );
}

#[test]
fn kv_bytes_per_token() {
    let l = ModelArch::builtin("llama-3.1-70b").unwrap();
    assert_eq!(l.kv_bytes_per_token(Dtype::Bf16), 327_680.0);
    assert_eq!(l.kv_bytes_per_token(Dtype::Fp8), 163_840.0);
    // TP 8: one KV head per GPU; TP 16 would replicate (still one head per GPU).
    assert_eq!(l.kv_bytes_per_token_per_gpu(Dtype::Bf16, 8), 40_960.0);
    assert_eq!(l.kv_heads_per_gpu(16), 1);
    let d = ModelArch::builtin("deepseek-v3").unwrap();
    assert_eq!(d.kv_bytes_per_token(Dtype::Bf16), 61.0 * 576.0 * 2.0);
    // The MLA latent is replicated on every TP rank.
    assert_eq!(
        d.kv_bytes_per_token_per_gpu(Dtype::Bf16, 8),
        d.kv_bytes_per_token(Dtype::Bf16)
    );
}

const LLAMA_LIKE: &str = r#"{
    "architectures": ["LlamaForCausalLM"],
    "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
    "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 128256,
    "max_position_embeddings": 131072, "rope_theta": 500000.0,
    "tie_word_embeddings": false, "torch_dtype": "bfloat16"
}"#;

#[test]
fn parses_a_written_config() {
    let path = write_config("llama", LLAMA_LIKE);
    let a = ModelArch::from_hf_config_file(&path).unwrap();
    let l = ModelArch::builtin("llama-3.1-8b").unwrap();
    assert_eq!(a.head_dim, 128, "head_dim defaults to hidden / heads");
    assert_eq!(a.param_count(), l.param_count());
    assert_eq!(
        a.id,
        path.parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
    );
    // resolve accepts the directory and the file.
    let dir = path.parent().unwrap();
    assert_eq!(
        ModelArch::resolve(dir.to_str().unwrap())
            .unwrap()
            .hidden_size,
        4096
    );
    assert_eq!(
        ModelArch::resolve(path.to_str().unwrap())
            .unwrap()
            .num_kv_heads,
        8
    );
}

#[test]
fn missing_or_bad_fields_name_file_and_field() {
    let no_hidden = LLAMA_LIKE.replace("\"hidden_size\": 4096,", "");
    let path = write_config("missing", &no_hidden);
    let e = ModelArch::from_hf_config_file(&path).unwrap_err();
    match &e {
        ModelError::Config { field, path: p, .. } => {
            assert_eq!(field, "hidden_size");
            assert_eq!(p, &path);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(e.to_string().contains("config.json") && e.to_string().contains("missing"));

    let p = Path::new("x/config.json");
    let zero = LLAMA_LIKE.replace("\"num_hidden_layers\": 32", "\"num_hidden_layers\": 0");
    let e = ModelArch::from_hf_config_str(&zero, p)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("num_hidden_layers") && e.contains("positive"),
        "{e}"
    );
    let neg = LLAMA_LIKE.replace("\"vocab_size\": 128256", "\"vocab_size\": -5");
    let e = ModelArch::from_hf_config_str(&neg, p)
        .unwrap_err()
        .to_string();
    assert!(e.contains("vocab_size") && e.contains("-5"), "{e}");
    let bad_kv = LLAMA_LIKE.replace("\"num_key_value_heads\": 8", "\"num_key_value_heads\": 5");
    let e = ModelArch::from_hf_config_str(&bad_kv, p)
        .unwrap_err()
        .to_string();
    assert!(e.contains("num_key_value_heads"), "{e}");
    let e = ModelArch::from_hf_config_str("{ not json", p)
        .unwrap_err()
        .to_string();
    assert!(e.contains("x/config.json") && e.contains("line 1"), "{e}");
    let e = ModelArch::from_hf_config_file(Path::new("/nonexistent/xpyd/config.json"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent/xpyd/config.json"), "{e}");
}

#[test]
fn defaults_for_optional_fields() {
    let json = r#"{"hidden_size": 1024, "num_hidden_layers": 2, "num_attention_heads": 16,
        "intermediate_size": 4096, "vocab_size": 1000, "max_position_embeddings": 2048,
        "head_dim": null}"#;
    let a = ModelArch::from_hf_config_str(json, Path::new("tiny.json")).unwrap();
    assert_eq!(
        (a.num_kv_heads, a.head_dim, a.tie_word_embeddings),
        (16, 64, false)
    );
    assert_eq!(a.id, "tiny");
}

#[test]
fn parses_text_config_nesting() {
    let json = format!(
        r#"{{"model_type": "llava", "vision_config": {{"hidden_size": 1}}, "text_config": {LLAMA_LIKE}}}"#
    );
    let a = ModelArch::from_hf_config_str(&json, Path::new("m/config.json")).unwrap();
    assert_eq!(a.hidden_size, 4096);
    let broken = json.replace("\"vocab_size\": 128256,", "");
    let e = ModelArch::from_hf_config_str(&broken, Path::new("m/config.json")).unwrap_err();
    assert!(e.to_string().contains("text_config.vocab_size"), "{e}");
}

/// r18 (fuzzing): sizes beyond the ranges are refused with the field and the range,
/// before any per-layer loop or sum (4,294,967,295 layers looped for seconds; an MLA
/// head width of u32::MAX overflowed).
#[test]
fn sizes_out_of_range_name_field_and_range() {
    let base = r#"{"hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
        "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 128256,
        "max_position_embeddings": 8192"#;
    for (extra, field, range) in [
        (r#", "head_dim": 4294967295"#, "head_dim", "[1, 1048576]"),
        (
            r#", "n_routed_experts": 70000, "num_experts_per_tok": 1"#,
            "n_routed_experts",
            "[0, 65536]",
        ),
        (
            r#", "kv_lora_rank": 512, "qk_rope_head_dim": 64, "qk_nope_head_dim": 4294967295, "v_head_dim": 128"#,
            "qk_nope_head_dim",
            "[1, 1048576]",
        ),
    ] {
        let json = format!("{base}{extra}}}");
        let e = ModelArch::from_hf_config_str(&json, Path::new("m/config.json")).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains(field) && msg.contains(range) && msg.contains("m/config.json"),
            "{msg}"
        );
    }
    let layers = format!(
        "{}}}",
        base.replace(
            "\"num_hidden_layers\": 32",
            "\"num_hidden_layers\": 4294967295"
        )
    );
    let e = ModelArch::from_hf_config_str(&layers, Path::new("m/config.json")).unwrap_err();
    assert!(
        e.to_string()
            .contains("num_hidden_layers: 4294967295 must be in [1, 16384]"),
        "{e}"
    );
}

#[test]
fn parses_deepseek_v3_keys() {
    let json = r#"{
        "architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3",
        "hidden_size": 7168, "num_hidden_layers": 61, "num_attention_heads": 128,
        "num_key_value_heads": 128, "intermediate_size": 18432, "vocab_size": 129280,
        "max_position_embeddings": 163840, "moe_intermediate_size": 2048,
        "n_routed_experts": 256, "n_shared_experts": 1, "num_experts_per_tok": 8,
        "first_k_dense_replace": 3, "moe_layer_freq": 1, "kv_lora_rank": 512,
        "q_lora_rank": 1536, "qk_rope_head_dim": 64, "qk_nope_head_dim": 128,
        "v_head_dim": 128, "tie_word_embeddings": false, "num_nextn_predict_layers": 1
    }"#;
    let mut a = ModelArch::from_hf_config_str(json, Path::new("DeepSeek-V3/config.json")).unwrap();
    assert_eq!(a.id, "DeepSeek-V3");
    let mut d = ModelArch::builtin("deepseek-v3").unwrap();
    a.id = String::new();
    a.hf_repo = String::new();
    d.id = String::new();
    d.hf_repo = String::new();
    assert_eq!(a, d);
}

#[test]
fn parses_qwen3_moe_keys() {
    let json = r#"{
        "architectures": ["Qwen3MoeForCausalLM"], "hidden_size": 4096,
        "num_hidden_layers": 94, "num_attention_heads": 64, "num_key_value_heads": 4,
        "head_dim": 128, "intermediate_size": 12288, "moe_intermediate_size": 1536,
        "num_experts": 128, "num_experts_per_tok": 8, "decoder_sparse_step": 1,
        "mlp_only_layers": [], "vocab_size": 151936, "max_position_embeddings": 40960,
        "tie_word_embeddings": false
    }"#;
    let a = ModelArch::from_hf_config_str(json, Path::new("q/config.json")).unwrap();
    let q = ModelArch::builtin("qwen3-235b-a22b").unwrap();
    assert_eq!(a.moe, q.moe);
    assert_eq!(a.param_count(), q.param_count());
    // Two dense layers listed in mlp_only_layers.
    let two_dense = json.replace("\"mlp_only_layers\": []", "\"mlp_only_layers\": [0, 5]");
    let a = ModelArch::from_hf_config_str(&two_dense, Path::new("q/config.json")).unwrap();
    assert_eq!(a.num_dense_ffn_layers(), 2);
    let missing_k = json.replace("\"num_experts_per_tok\": 8,", "");
    let e = ModelArch::from_hf_config_str(&missing_k, Path::new("q/config.json")).unwrap_err();
    assert!(e.to_string().contains("num_experts_per_tok"), "{e}");
}

#[test]
fn parses_mixtral_and_qwen2_moe_shared_expert() {
    let mixtral = r#"{"hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
        "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 32000,
        "max_position_embeddings": 32768, "num_local_experts": 8, "num_experts_per_tok": 2}"#;
    let a = ModelArch::from_hf_config_str(mixtral, Path::new("mixtral.json")).unwrap();
    // Mixtral-8x7B: 46.7B total, 12.9B active.
    assert!(
        (b(a.param_count()) - 46.7).abs() < 0.1,
        "{}",
        a.param_count()
    );
    assert!(
        (b(a.active_param_count()) - 12.9).abs() < 0.1,
        "{}",
        a.active_param_count()
    );
    let qwen2_moe = r#"{"hidden_size": 2048, "num_hidden_layers": 24, "num_attention_heads": 16,
        "num_key_value_heads": 16, "intermediate_size": 5632, "vocab_size": 151936,
        "max_position_embeddings": 8192, "num_experts": 60, "num_experts_per_tok": 4,
        "moe_intermediate_size": 1408, "shared_expert_intermediate_size": 5632,
        "decoder_sparse_step": 1, "mlp_only_layers": []}"#;
    let a = ModelArch::from_hf_config_str(qwen2_moe, Path::new("q.json")).unwrap();
    let m = a.moe.as_ref().unwrap();
    assert_eq!(
        (m.num_shared_experts, m.shared_expert_intermediate_size),
        (1, 5632)
    );
    // Qwen1.5-MoE-A2.7B: 14.3B total, 2.7B active.
    assert!(
        (b(a.param_count()) - 14.3).abs() < 0.1,
        "{}",
        a.param_count()
    );
    assert!(
        (b(a.active_param_count()) - 2.7).abs() < 0.1,
        "{}",
        a.active_param_count()
    );
}
