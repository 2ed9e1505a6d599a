//! Tests of `silicon.rs`.

use super::Campaign;

#[test]
fn campaigns_are_read_from_the_data_source() {
    for (source, want) in [
        (
            "source_file=h100_sxm/trtllm/1.0.0rc3/Qwen_Qwen3-32B.csv; silicon_concurrency=8",
            Campaign::Aic,
        ),
        (
            "source_file=2026-03-25.csv; model=DeepSeek-R1; silicon_concurrency=16; wip=False",
            Campaign::InferenceX,
        ),
        (
            "db-dump/2026-04-27; config_id=434; silicon_concurrency=256",
            Campaign::InferenceX,
        ),
        (
            "source_file=h100_sxm/sglang/0.5.6.post2/qwen3_32b.csv; gtl_job_id=23364591",
            Campaign::Unknown,
        ),
        ("", Campaign::Unknown),
        ("silicon_concurrency=4", Campaign::Unknown),
    ] {
        assert_eq!(Campaign::of(source), want, "{source}");
    }
    assert_eq!(
        Campaign::InferenceX.length(1),
        "kind = \"uniform\"\nmin = 1\nmax = 1"
    );
    assert_eq!(Campaign::Aic.length(7), "kind = \"fixed\"\ntokens = 7");
}

/// Asserts that `toml` contains every one of `wants`.
fn assert_has(toml: &str, wants: &[&str]) {
    for want in wants {
        assert!(toml.contains(want), "{want} in {toml}");
    }
}

const HEADER: &str = "id,silicon_data_source,backend,backend_version,model_path,system,precision,mode,isl,osl,gemm_quant_mode,moe_quant_mode,batch_size,tp_size,pp_size,attention_dp_size,moe_tp_size,moe_ep_size,silicon_ttft_ms,silicon_tpot_ms";

#[test]
fn inferencex_llama_70b_fp8_rows_take_their_recipe() {
    let row = |backend: &str, quant: &str| {
        format!(
            "{HEADER}\nr1,source_file=2026-04-06.csv; model=Llama-3.1-70B; silicon_concurrency=16; wip=False,{backend},,meta-llama/Llama-3.1-70B-Instruct-FP8,h100_sxm,{quant},agg,1024,1024,{quant},{quant},16,4,1,1,1,1,120.0,14.0\n"
        )
    };
    let read = |text: String| {
        let runs = super::read(std::path::Path::new("ix.csv"), &text).unwrap();
        assert_eq!(runs.len(), 1);
        runs.into_iter().next().unwrap()
    };
    // vLLM: FP8 KV cache, asynchronous scheduling, 8192 tokens per step.
    let v = read(row("vllm", "fp8"));
    let toml = v.scenario_toml.as_deref().unwrap();
    assert_has(
        toml,
        &[
            "kv-cache = \"fp8\"",
            "engine.async-scheduling = true",
            "engine.max-batched-tokens = 8192",
            "engine.max-num-seqs = 16",
        ],
    );
    assert!(v.notes.iter().any(|n| n.contains("70b_fp8_<gpu>_slurm.sh")));
    // TensorRT-LLM, 1k/1k below TP 8: FP8 KV cache, prompts held for batching (20
    // steps, 90% of a budget of 8192), unchunked.
    let t = read(row("trtllm", "fp8"));
    let toml = t.scenario_toml.as_deref().unwrap();
    assert_has(
        toml,
        &[
            "kv-cache = \"fp8\"",
            "engine.max-batched-tokens = 8192\n",
            "engine.batch-wait-timeout-iters = 20\nengine.batch-wait-max-tokens-ratio = 0.9\n",
        ],
    );
    assert!(!toml.contains("chunked-prefill"), "{toml}");
    // At TP 8 the script holds nothing; at 1k/8k the budget stays the engine layer's.
    let tp8 = read(row("trtllm", "fp8").replace(",16,4,1,1,1,1,", ",16,8,1,1,1,1,"));
    let toml = tp8.scenario_toml.as_deref().unwrap();
    assert!(
        toml.contains("engine.max-batched-tokens = 8192\n"),
        "{toml}"
    );
    assert!(!toml.contains("batch-wait"), "{toml}");
    let long = read(row("trtllm", "fp8").replace(",agg,1024,1024,", ",agg,1024,8192,"));
    let toml = long.scenario_toml.as_deref().unwrap();
    assert!(toml.contains("kv-cache = \"fp8\""), "{toml}");
    assert!(!toml.contains("max-batched-tokens"), "{toml}");
    assert!(!toml.contains("batch-wait"), "{toml}");
    // BF16 weights, or another campaign: no recipe, a BF16 KV cache.
    let b = read(row("vllm", "bfloat16"));
    assert!(
        b.scenario_toml
            .as_deref()
            .unwrap()
            .contains("kv-cache = \"bf16\"")
    );
    let aic = read(row("vllm", "fp8").replace(
        "source_file=2026-04-06.csv; model=Llama-3.1-70B;",
        "source_file=h100_sxm/vllm/0.12.0/x.csv;",
    ));
    assert!(
        aic.scenario_toml
            .as_deref()
            .unwrap()
            .contains("kv-cache = \"bf16\"")
    );
    assert!(
        !aic.notes
            .iter()
            .any(|n| n.contains("InferenceX benchmarks"))
    );
}

#[test]
fn tensorrt_llm_runs_modelopt_fp8_checkpoints_with_an_fp8_kv_cache() {
    let kv = |backend: &str, path: &str, gemm: &str| {
        let text = format!(
            "{HEADER}\nr1,source_file=h100_sxm/{backend}/1.0.0rc3/x.csv; silicon_concurrency=128,{backend},1.0.0rc3,{path},h100_sxm,fp8,agg,2048,128,{gemm},{gemm},128,1,1,,1,1,1587.9,184.0\n"
        );
        let runs = super::read(std::path::Path::new("aic.csv"), &text).unwrap();
        let toml = runs[0].scenario_toml.clone().unwrap();
        if toml.contains("kv-cache = \"fp8\"") {
            "fp8"
        } else {
            assert!(toml.contains("kv-cache = \"bf16\""), "{toml}");
            "bf16"
        }
    };
    // A BF16 checkpoint the sweep quantized, or NVIDIA's own FP8 one: ModelOpt's KV format.
    assert_eq!(kv("trtllm", "Qwen/Qwen3-32B", "fp8"), "fp8");
    assert_eq!(
        kv("trtllm", "nvidia/Llama-3.1-8B-Instruct-FP8", "fp8"),
        "fp8"
    );
    // Checkpoints quantized by their authors carry no KV scales.
    assert_eq!(
        kv("trtllm", "Qwen/Qwen3-235B-A22B-FP8", "fp8_block"),
        "bf16"
    );
    assert_eq!(kv("trtllm", "Qwen/Qwen3-235B-A22B-FP8", "fp8"), "bf16");
    assert_eq!(kv("trtllm", "deepseek-ai/DeepSeek-V3", "fp8"), "bf16");
    assert_eq!(kv("trtllm", "openai/gpt-oss-120b", "fp8"), "bf16");
    // A DeepSeek distill is a BF16 repository: quantized by ModelOpt like any other.
    assert_eq!(
        kv("trtllm", "deepseek-ai/DeepSeek-R1-Distill-Llama-70B", "fp8"),
        "fp8"
    );
    // BF16 weights; vLLM and SGLang take the model's dtype whatever the checkpoint.
    assert_eq!(kv("trtllm", "meta-llama/Llama-3.1-8B-Instruct", ""), "bf16");
    assert_eq!(kv("vllm", "Qwen/Qwen3-32B", "fp8"), "bf16");
    assert_eq!(
        kv("sglang", "nvidia/Llama-3.1-8B-Instruct-FP8", "fp8"),
        "bf16"
    );
}

#[test]
fn inferencex_vllm_rows_of_2025_keep_at_most_100_requests_in_flight() {
    let read = |backend: &str, measured: &str, clients: u32| {
        let text = format!(
            "{HEADER}\nr1,source_file=2026-04-06.csv; model=GPT-OSS-120B; silicon_concurrency={clients}; measured={measured}T00:00:00.000Z; wip=False,{backend},,openai/gpt-oss-120b,h100_sxm,fp4,agg,1024,1024,nvfp4,nvfp4,{clients},4,1,1,4,1,19976.8,4.7\n"
        );
        let runs = super::read(std::path::Path::new("ix.csv"), &text).unwrap();
        runs.into_iter().next().unwrap()
    };
    let capped = read("vllm", "2025-12-08", 512);
    let toml = capped.scenario_toml.as_deref().unwrap();
    assert!(toml.contains("engine.max-num-seqs = 100\n"), "{toml}");
    assert!(toml.contains("clients = 512"), "{toml}");
    assert!(
        capped
            .notes
            .iter()
            .any(|n| n.contains("at most 100 requests in flight"))
    );
    // Below the cap, in 2026, or another engine's client: the row's own concurrency.
    for (backend, measured, clients, want) in [
        ("vllm", "2025-12-08", 64, 64),
        ("vllm", "2025-12-08", 100, 100),
        ("vllm", "2026-03-27", 512, 512),
        ("trtllm", "2025-12-08", 512, 512),
    ] {
        let run = read(backend, measured, clients);
        let toml = run.scenario_toml.as_deref().unwrap();
        assert!(
            toml.contains(&format!("engine.max-num-seqs = {want}\n")),
            "{backend} {measured} {clients}: {toml}"
        );
        assert!(!run.notes.iter().any(|n| n.contains("requests in flight")));
    }
    // No batch_size recorded: the clients bound it, capped the same way.
    let text = format!(
        "{HEADER}\nr1,source_file=2026-04-06.csv; model=GPT-OSS-120B; silicon_concurrency=512; measured=2025-12-05T00:00:00.000Z; wip=False,vllm,,openai/gpt-oss-120b,h100_sxm,fp4,agg,1024,1024,nvfp4,nvfp4,,4,1,1,4,1,19976.8,4.7\n"
    );
    let runs = super::read(std::path::Path::new("ix.csv"), &text).unwrap();
    let toml = runs[0].scenario_toml.as_deref().unwrap();
    assert!(toml.contains("engine.max-num-seqs = 100\n"), "{toml}");
}

#[test]
fn inferencex_deepseek_h200_rows_take_their_recipe() {
    let row = |backend: &str, clients: u32, isl: u32, ep: u32| {
        format!(
            "{HEADER}\nr1,db-dump/2026-04-27; config_id=1; silicon_concurrency={clients},{backend},0.5.9,deepseek-ai/DeepSeek-R1,h200_sxm,fp8,agg,{isl},1024,fp8,fp8,{clients},8,1,1,1,{ep},300.0,20.0\n"
        )
    };
    let toml = |text: String| {
        let runs = super::read(std::path::Path::new("ix.csv"), &text).unwrap();
        runs[0].scenario_toml.clone().unwrap()
    };
    // TensorRT-LLM: FP8 KV, 0.75 of the free memory, a budget of
    // max(8192, clients + isl + 64 rounded up to 64), no chunking, the script's stream
    // interval of 10 and a client that times the first token at the second chunk (both
    // engines' DeepSeek runs measure it so).
    let t = toml(row("trtllm", 64, 8192, 8));
    assert_has(
        &t,
        &[
            "kv-cache = \"fp8\"",
            "engine.max-batched-tokens = 8320",
            "engine.gpu-memory-utilization = 0.75",
            "engine.stream-interval = 10",
            "ttft-chunk = 2",
        ],
    );
    assert!(!t.contains("chunked-prefill"), "{t}");
    assert!(toml(row("trtllm", 4, 1024, 1)).contains("engine.max-batched-tokens = 8192"));
    // SGLang TP 8: 32768 tokens per chunk, 0.82 of the memory, the KV cache in bf16.
    let g = toml(row("sglang", 16, 1024, 1));
    assert_has(
        &g,
        &[
            "kv-cache = \"bf16\"",
            "engine.max-batched-tokens = 32768",
            "engine.gpu-memory-utilization = 0.82",
            "engine.stream-interval = 10",
            "ttft-chunk = 2",
        ],
    );
    // That script runs no expert parallelism: an EP row keeps the defaults.
    assert!(!toml(row("sglang", 16, 1024, 8)).contains("gpu-memory-utilization"));
}

#[test]
fn inferencex_gpt_oss_rows_take_their_recipe() {
    let row = |backend: &str, gpu: &str| {
        format!(
            "{HEADER}\nr1,source_file=2026-04-06.csv; model=GPT-OSS-120B; silicon_concurrency=16,{backend},,openai/gpt-oss-120b,{gpu},fp4,agg,1024,1024,nvfp4,nvfp4,16,1,1,1,1,1,100.0,6.0\n"
        )
    };
    let toml = |text: String| {
        let runs = super::read(std::path::Path::new("ix.csv"), &text).unwrap();
        assert!(runs[0].skip.is_none(), "{:?}", runs[0].skip);
        runs[0].scenario_toml.clone().unwrap()
    };
    let v = toml(row("vllm", "h100_sxm"));
    assert_has(
        &v,
        &[
            "engine.max-batched-tokens = 8192",
            "engine.async-scheduling = true",
            "kv-cache = \"bf16\"",
        ],
    );
    let t = toml(row("trtllm", "h200_sxm"));
    assert_has(
        &t,
        &[
            "engine.max-batched-tokens = 20000",
            "engine.gpu-memory-utilization = 0.85",
            "engine.stream-interval = 20",
        ],
    );
    assert!(!t.contains("chunked-prefill"), "{t}");
    // Its client times the first chunk: the first token.
    assert!(!t.contains("ttft-chunk"), "{t}");
    // No published H100 TensorRT-LLM script: the replay's own rule.
    assert!(toml(row("trtllm", "h100_sxm")).contains("engine.chunked-prefill = true"));
}

#[test]
fn a_batch_below_the_concurrency_is_not_a_cap() {
    // AIConfigurator's TensorRT-LLM 1.3 sweep: 192 clients, batch 48 on TP 4. Every
    // client was in flight (measured TTFT 1.6 s, one generation 49 s), so the replay
    // holds 192, and says why; a batch equal to the concurrency is the cap as before.
    let row = |clients: u32, batch: u32| {
        let text = format!(
            "{HEADER}\nr1,source_file=h100_sxm/trtllm/1.3.0rc1/openai_gpt-oss-120b.csv; silicon_concurrency={clients},trtllm,1.3.0rc1,openai/gpt-oss-120b,h100_sxm,fp8,agg,4000,1000,fp8,fp8,{batch},4,1,,4,1,1590.0,48.8\n"
        );
        super::read(std::path::Path::new("x.csv"), &text)
            .unwrap()
            .remove(0)
    };
    let capped = row(192, 48);
    let toml = capped.scenario_toml.as_deref().unwrap();
    assert!(toml.contains("engine.max-num-seqs = 192"), "{toml}");
    assert!(
        capped
            .notes
            .iter()
            .any(|n| n.contains("not the engine's batch cap")),
        "{:?}",
        capped.notes
    );
    let same = row(48, 48);
    assert!(
        same.scenario_toml
            .as_deref()
            .unwrap()
            .contains("engine.max-num-seqs = 48")
    );
    assert!(!same.notes.iter().any(|n| n.contains("batch cap")));
}

#[test]
fn aiconfigurator_sglang_harness_rows_mix_decodes_into_prefill_steps() {
    // AIConfigurator's SGLang benchmark rule: `enable_mixed_chunk` for aggregated workers
    // (decode-first here), within SGLang's chunk size on the GPU (8192 on an H200).
    let toml = |backend: &str, isl: u32, osl: u32| {
        let text = format!(
            "{HEADER}\nr1,source_file=h200_sxm/{backend}/0.5.6.post2/x.csv; silicon_concurrency=80,{backend},0.5.6.post2,meta-llama/Llama-3.1-8B-Instruct,h200_sxm,fp8,agg,{isl},{osl},fp8_block,fp8_block,80,1,1,,1,1,1277.31,33.49\n"
        );
        let run = super::read(std::path::Path::new("x.csv"), &text)
            .unwrap()
            .remove(0);
        assert!(run.skip.is_none(), "{:?}", run.skip);
        run.scenario_toml.unwrap()
    };
    let t = toml("sglang", 1000, 2000);
    assert!(t.contains("engine.priority = \"decode-first\"\n"), "{t}");
    assert!(t.contains("engine.max-batched-tokens = 8192\n"), "{t}");
    // The genai-perf runner's rows (powers of two) keep SGLang's defaults.
    let t = toml("sglang", 1024, 128);
    assert!(!t.contains("engine.priority"), "{t}");
    assert!(!t.contains("max-batched-tokens"), "{t}");
    // Other engines' AIPerf rows are not mixed by this rule.
    let t = toml("vllm", 1000, 2000);
    assert!(!t.contains("engine.priority"), "{t}");
    // A disaggregated SGLang row of the same grid: its roles keep SGLang's defaults.
    let pd = read_pd(
        "r2,source_file=h200_sxm/sglang/0.5.6.post2/x.csv; silicon_concurrency=64,sglang,0.5.6.post2,meta-llama/Llama-3.1-8B-Instruct,h200_sxm,fp8,disagg,1000,2000,fp8_block,fp8_block,,,,,,,1,1,1,1,1,1,1,64,1,1,1,1,1,1,500.0,30.0",
    );
    let t = pd.scenario_toml.unwrap();
    assert!(!t.contains("engine.priority"), "{t}");
}

#[test]
fn aiconfigurator_aiperf_vllm_rows_reuse_its_hundred_prompts() {
    // AIConfigurator's AIPerf harness (lengths on the 1000 x 100 grid): 50 requests per
    // client, prompts from AIPerf's 100-entry dataset in shuffled passes, which vLLM
    // serves from its prefix cache; TensorRT-LLM as AIConfigurator deploys it reuses no
    // blocks and SGLang's runs show no reuse, so their prompts stay fresh. The genai-perf
    // runner's rows (powers of two) keep 10 requests per client and fresh prompts.
    let row = |backend: &str, isl: u32, osl: u32| {
        let text = format!(
            "{HEADER}\nr1,source_file=h200_sxm/{backend}/0.12.0/x.csv; silicon_concurrency=112,{backend},0.12.0,nvidia/Llama-3.1-8B-Instruct-FP8,h200_sxm,fp8,agg,{isl},{osl},fp8,fp8,112,1,1,,1,1,71.9,11.3\n"
        );
        super::read(std::path::Path::new("x.csv"), &text)
            .unwrap()
            .remove(0)
    };
    let v = row("vllm", 1000, 100);
    let toml = v.scenario_toml.as_deref().unwrap();
    assert_has(
        toml,
        &[
            "requests = 5600\n",
            "[workload.input-tokens]\nkind = \"fixed\"\ntokens = 1\n",
            "[workload.prefix]\nkind = \"shared-prompt\"\nprompts = 100\ntokens = 999\nblock-tokens = 16\norder = \"shuffle\"",
        ],
    );
    assert!(
        v.notes.iter().any(|n| n.contains("100-entry dataset")),
        "{:?}",
        v.notes
    );
    // AIConfigurator's vLLM rule: a token budget of batch + isl + 1500.
    assert!(toml.contains("engine.max-batched-tokens = 2612"), "{toml}");
    assert_eq!(v.load.input_tokens, Some(1000));
    // SGLang's runs show no reuse: 50 requests per client, fresh prompts.
    let s = row("sglang", 8000, 2000);
    let toml = s.scenario_toml.as_deref().unwrap();
    assert!(toml.contains("requests = 5600\n"), "{toml}");
    assert!(!toml.contains("[workload.prefix]"), "{toml}");
    assert!(toml.contains("tokens = 8000\n"), "{toml}");
    let t = row("trtllm", 1000, 100);
    let toml = t.scenario_toml.as_deref().unwrap();
    assert!(toml.contains("requests = 5600\n"), "{toml}");
    assert!(!toml.contains("[workload.prefix]"), "{toml}");
    assert!(toml.contains("tokens = 1000\n"), "{toml}");
    let g = row("vllm", 1024, 128);
    let toml = g.scenario_toml.as_deref().unwrap();
    assert!(toml.contains("requests = 1120\n"), "{toml}");
    assert!(toml.contains("engine.max-batched-tokens = 2636"), "{toml}");
    assert!(!toml.contains("[workload.prefix]"), "{toml}");
    assert!(
        !g.notes.iter().any(|n| n.contains("AIPerf")),
        "{:?}",
        g.notes
    );
}

#[test]
fn inferencex_tp_times_ep_columns_replay_on_the_gpus_that_ran() {
    // (source, tp_size, attention_dp_size, moe_tp_size, moe_ep_size, batch_size) ->
    // the scenario's role lines.
    let ix = "db-dump/2026-04-27; config_id=181; silicon_concurrency=64";
    let aic = "source_file=h100_sxm/trtllm/1.0.0rc3/qwen3_235b.csv";
    for (source, cols, want, note) in [
        // TensorRT-LLM TP 8 / EP 8, written as 64 GPUs.
        (
            ix,
            "64,1,1,8,8",
            "tp = 8\nep = 8\nengine.max-num-seqs = 64",
            true,
        ),
        // DP-attention over the 8 GPUs, batch 1 per "rank" of 64: 64 sequences.
        (
            ix,
            "1,1,64,8,8",
            "tp = 8\ndp = 8\nep = 8\nengine.max-num-seqs = 64",
            true,
        ),
        // An InferenceX row in the AIConfigurator convention stays as it is.
        (
            ix,
            "8,1,1,1,8",
            "tp = 8\nep = 8\nengine.max-num-seqs = 64",
            false,
        ),
        // An AIConfigurator row with MoE TP 2 x EP 2 over 4 GPUs stays as it is.
        (
            aic,
            "4,1,1,2,2",
            "tp = 4\nep = 2\nengine.max-num-seqs = 64",
            false,
        ),
    ] {
        let (tp, pp, dp, mtp, ep) = {
            let v: Vec<&str> = cols.split(',').collect();
            (v[0], v[1], v[2], v[3], v[4])
        };
        let batch = if dp == "64" { 1 } else { 64 };
        let text = format!(
            "{HEADER}\nr1,{source},trtllm,1.1.0,deepseek-ai/DeepSeek-R1,h200_sxm,fp8,agg,1024,1024,fp8,fp8,{batch},{tp},{pp},{dp},{mtp},{ep},300.0,20.0\n"
        );
        let runs = super::read(std::path::Path::new("x.csv"), &text).unwrap();
        let toml = runs[0].scenario_toml.as_deref().unwrap();
        assert!(toml.contains(want), "{cols}: {want} in {toml}");
        assert_eq!(
            runs[0].notes.iter().any(|n| n.contains("as converted")),
            note,
            "{cols}: {:?}",
            runs[0].notes
        );
    }
}

/// The CSV's full header, disaggregated columns included.
const PD_HEADER: &str = "id,silicon_data_source,backend,backend_version,model_path,system,precision,mode,isl,osl,gemm_quant_mode,moe_quant_mode,batch_size,tp_size,pp_size,attention_dp_size,moe_tp_size,moe_ep_size,prefill_batch_size,prefill_num_workers,prefill_tp_size,prefill_pp_size,prefill_attention_dp_size,prefill_moe_tp_size,prefill_moe_ep_size,decode_batch_size,decode_num_workers,decode_tp_size,decode_pp_size,decode_attention_dp_size,decode_moe_tp_size,decode_moe_ep_size,silicon_ttft_ms,silicon_tpot_ms";

/// InferenceX Dynamo rows of `silicon_sample_train.csv` without worker counts, as shipped.
const IX_PD_924: &str = "2026_03_25_deepseek_r1_h100_sxm_trtllm_fp8_disagg_1024x1024_c924_tp16_0_ep16_0_860,source_file=2026-03-25.csv; model=DeepSeek-R1; silicon_concurrency=924; measured=2026-02-08T01:24:15Z; wip=False; image=nvcr.io/nvidia/ai-dynamo/tensorrtllm-runtime:0.8.1.post3,trtllm,0.8.1.post3,deepseek-ai/DeepSeek-R1,h100_sxm,fp8,disagg,1024,1024,fp8,fp8,,,,,,,,,16,1,1,1,16,,,16,1,1,1,16,25633.77057102988,54.47510582466531";
const IX_PD_117: &str = "2026_03_25_deepseek_r1_h100_sxm_trtllm_fp8_disagg_1024x1024_c117_tp16_0_ep16_0_862,source_file=2026-03-25.csv; model=DeepSeek-R1; silicon_concurrency=117; measured=2026-02-08T01:24:15Z; wip=False; image=nvcr.io/nvidia/ai-dynamo/tensorrtllm-runtime:0.8.1.post3,trtllm,0.8.1.post3,deepseek-ai/DeepSeek-R1,h100_sxm,fp8,disagg,1024,1024,fp8,fp8,,,,,,,,,16,1,1,1,16,,,16,1,1,1,16,7896.437666679407,18.026947471069143";
const IX_PD_154: &str = "2026_03_25_deepseek_r1_h100_sxm_trtllm_fp8_disagg_8192x1024_c154_tp16_0_ep16_0_877,source_file=2026-03-25.csv; model=DeepSeek-R1; silicon_concurrency=154; measured=2026-02-08T01:24:15Z; wip=False; image=nvcr.io/nvidia/ai-dynamo/tensorrtllm-runtime:0.8.1.post3,trtllm,0.8.1.post3,deepseek-ai/DeepSeek-R1,h100_sxm,fp8,disagg,8192,1024,fp8,fp8,,,,,,,,,16,1,1,1,16,,,16,1,1,1,16,31382.714534003902,52.86170449479919";
const IX_PD_60: &str = "2026_03_25_deepseek_r1_h100_sxm_trtllm_fp8_disagg_1024x1024_c60_tp16_0_ep16_0_856,source_file=2026-03-25.csv; model=DeepSeek-R1; silicon_concurrency=60; measured=2026-02-08T01:24:15Z; wip=False; image=nvcr.io/nvidia/ai-dynamo/tensorrtllm-runtime:0.8.1.post3,trtllm,0.8.1.post3,deepseek-ai/DeepSeek-R1,h100_sxm,fp8,disagg,1024,1024,fp8,fp8,,,,,,,,,16,1,1,1,16,,,16,1,1,1,16,5541.637442500409,14.954818588996362";
const IX_PD_36: &str = "2026_03_25_deepseek_r1_h200_sxm_trtllm_fp8_disagg_1024x1024_c36_tp8_0_ep8_0_667,source_file=2026-03-25.csv; model=DeepSeek-R1; silicon_concurrency=36; measured=2026-02-14T06:57:35Z; wip=False; image=nvcr.io/nvidia/ai-dynamo/tensorrtllm-runtime:0.8.1.post1,trtllm,0.8.1.post1,deepseek-ai/DeepSeek-R1,h200_sxm,fp8,disagg,1024,1024,fp8,fp8,,,,,,,,,8,1,1,1,8,,,8,1,1,1,8,673.2395802514576,13.39021889249814";

fn read_pd(line: &str) -> super::MeasuredRun {
    let text = format!("{PD_HEADER}\n{line}\n");
    let runs = super::read(std::path::Path::new("silicon.csv"), &text).unwrap();
    assert_eq!(runs.len(), 1);
    runs.into_iter().next().unwrap()
}

const UNKNOWN_SIZE: &str = "prefill_num_workers is not recorded: the deployment's size is unknown";

#[test]
fn inferencex_pd_rows_without_workers_take_the_published_deployment() {
    // dsr1-fp8-h100-dynamo-trt, 1k/1k at 924 clients: one item, without MTP
    // (ctx1_gen3_dep16_batch16): 1 prefill and 3 decode workers, each TP 16 / EP 16 with
    // DP-attention over the 16 GPUs.
    let run = read_pd(IX_PD_924);
    assert!(run.skip.is_none(), "{:?}", run.skip);
    let toml = run.scenario_toml.as_deref().unwrap();
    assert_has(
        toml,
        &[
            "[deployment.prefill]\nreplicas = 1\ntp = 16\ndp = 16\nep = 16\n",
            "[deployment.decode]\nreplicas = 3\ntp = 16\ndp = 16\nep = 16\n",
            "clients = 924",
        ],
    );
    let note = run
        .notes
        .iter()
        .find(|n| n.starts_with("worker counts from InferenceX"))
        .unwrap_or_else(|| panic!("{:?}", run.notes));
    assert!(
        note.contains("dsr1-fp8-h100-dynamo-trt @ 0004cf5f")
            && note.contains("ctx1_gen3_dep16_batch16_eplb0_mtp0.yaml"),
        "{note}"
    );
    // The scenario it writes is one xpyd runs.
    crate::scenario::Scenario::from_text_with_engine(
        std::path::Path::new("ix.toml"),
        std::path::Path::new("."),
        toml,
        None,
    )
    .expect("a valid scenario");
}

#[test]
fn inferencex_pd_rows_run_with_mtp_are_skipped() {
    // 1k/1k at 117 clients: only an MTP item (ctx1_gen3_tep16_batch32_eplb0_mtp3).
    let run = read_pd(IX_PD_117);
    let why = run.skip.unwrap();
    assert!(
        why.contains("ran this deployment with MTP")
            && why.contains("its acceptance is not recorded")
            && why.contains("decode 3 x TP16/EP16"),
        "{why}"
    );
}

#[test]
fn inferencex_pd_rows_with_several_deployments_are_skipped() {
    // 8k/1k at 154 clients: MTP ctx2_gen1 and STP ctx1_gen2, different worker counts.
    let why = read_pd(IX_PD_154).skip.unwrap();
    assert!(
        why.starts_with("ambiguous:")
            && why.contains("prefill 2 x TP16/EP16 DP-attention, decode 1 x")
            && why.contains("prefill 1 x TP16/EP16 DP-attention, decode 2 x"),
        "{why}"
    );
    // 1k/1k at 60 clients: the same workers with and without MTP.
    let why = read_pd(IX_PD_60).skip.unwrap();
    assert!(
        why.starts_with("ambiguous:") && why.contains("an MTP run's acceptance is not recorded"),
        "{why}"
    );
}

#[test]
fn inferencex_pd_rows_without_a_published_match_keep_their_reason() {
    // H200 TensorRT-LLM at 36 clients: no item of that commit lists the concurrency.
    assert_eq!(read_pd(IX_PD_36).skip.as_deref(), Some(UNKNOWN_SIZE));
    // Another image, another deployment: the 924-client row as another engine build.
    let other = IX_PD_924.replace("runtime:0.8.1.post3,", "runtime:0.9.0,");
    assert_eq!(read_pd(&other).skip.as_deref(), Some(UNKNOWN_SIZE));
    // A recorded decode split the item does not have (TP 8 / EP 8) is not matched.
    let decode = IX_PD_924.replace(",,,16,1,1,1,16,25633", ",,,8,1,1,1,8,25633");
    assert_eq!(read_pd(&decode).skip.as_deref(), Some(UNKNOWN_SIZE));
    // Rows of other campaigns are never looked up.
    let aic = IX_PD_924.replace(
        "source_file=2026-03-25.csv; model=DeepSeek-R1;",
        "source_file=h100_sxm/trtllm/1.0.0rc3/dsr1.csv;",
    );
    assert_eq!(read_pd(&aic).skip.as_deref(), Some(UNKNOWN_SIZE));
}
