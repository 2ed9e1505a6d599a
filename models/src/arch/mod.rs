//! Model architectures: the built-in catalog and Hugging Face `config.json` loading.
//!
//! A [`ModelArch`] describes a decoder-only transformer exactly enough to derive its
//! parameter count, weight bytes, per-layer GEMM shapes and KV bytes per token.
//!
//! Invariants of every [`ModelArch`] this module hands out (catalog or loaded):
//!
//! - every size is positive: hidden size, layers, heads, KV heads, head_dim,
//!   intermediate size, vocabulary, context length;
//! - `num_kv_heads` divides `num_heads` (GQA/MQA/MHA), except for MLA models where the
//!   KV cache holds one shared latent and `num_kv_heads` is informational;
//! - for MoE, `0 < experts_per_token <= num_experts` and `first_dense_layers <= num_layers`;
//! - for MLA, `head_dim = qk_nope_head_dim + qk_rope_head_dim` (the q/k head width).
//!
//! A loaded `config.json` is held to finite ranges, far above every released model, so
//! that no derived size overflows and no per-layer loop runs without bound: widths
//! (hidden, intermediate, head and latent dimensions) at most [`MAX_CONFIG_DIM`],
//! layers at most [`MAX_CONFIG_LAYERS`], heads, KV heads and experts at most
//! [`MAX_CONFIG_HEADS`], vocabulary at most [`MAX_CONFIG_VOCAB`] and
//! `max_position_embeddings` at most [`MAX_CONFIG_POSITIONS`]; an error names the file,
//! the field, the value and the range.
//!
//! Parameter counts are exact from the shapes (embeddings, lm_head unless tied,
//! attention including MLA projections and their norms, dense and MoE FFN including
//! router and shared experts, RMSNorm weights). They leave out the tiny terms that no
//! field describes: QKV biases (Qwen2), per-head q/k norms (Qwen3), DeepSeek's router
//! score-correction bias, and multi-token-prediction (MTP) layers, each well under
//! 0.1% of the total.

use crate::Dtype;
use config::{Cfg, config_id};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Largest width a `config.json` may give (hidden, intermediate, expert, head and MLA
/// latent dimensions): 2^20.
pub const MAX_CONFIG_DIM: u32 = 1 << 20;

/// Most layers a `config.json` may give (`num_hidden_layers`): 2^14.
pub const MAX_CONFIG_LAYERS: u32 = 1 << 14;

/// Most attention heads, KV heads or experts (routed or shared) a `config.json` may
/// give: 2^16.
pub const MAX_CONFIG_HEADS: u32 = 1 << 16;

/// Largest vocabulary a `config.json` may give (`vocab_size`): 2^24.
pub const MAX_CONFIG_VOCAB: u32 = 1 << 24;

/// Longest context a `config.json` may give (`max_position_embeddings`): 2^30 tokens.
pub const MAX_CONFIG_POSITIONS: u32 = 1 << 30;

/// Mixture-of-experts feed-forward description (per MoE layer).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Moe {
    /// Routed experts per MoE layer.
    pub num_experts: u32,
    /// Routed experts activated per token.
    pub experts_per_token: u32,
    /// Intermediate size of one routed expert.
    pub expert_intermediate_size: u32,
    /// Shared (always active) experts per MoE layer.
    pub num_shared_experts: u32,
    /// Intermediate size of one shared expert.
    pub shared_expert_intermediate_size: u32,
    /// Leading layers that use a dense FFN (`intermediate_size`) instead of MoE.
    pub first_dense_layers: u32,
    /// How the routed experts' weights are stored (gpt-oss: MXFP4).
    #[serde(default)]
    pub expert_weights: ExpertWeights,
}

/// Storage of the routed experts' weights.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExpertWeights {
    /// As the rest of the model (the scenario's `model.weights`).
    #[default]
    AsModel,
    /// OCP MXFP4 (`quantization_config.quant_method = "mxfp4"`, gpt-oss): 4-bit e2m1
    /// elements with one 8-bit scale per 32, 4.25 bits per weight. Hopper has no FP4
    /// tensor cores: the expert GEMMs compute at the peak of the model's weight format on
    /// weights dequantised in the kernel, and read 4.25 bits per weight.
    Mxfp4,
}

impl ExpertWeights {
    /// The format of the grouped-expert GEMM rows that price these experts when the rest
    /// of the model is `model`.
    pub fn row_dtype(self, model: Dtype) -> crate::ExpertDtype {
        match self {
            ExpertWeights::AsModel => model.into(),
            ExpertWeights::Mxfp4 => crate::ExpertDtype::Mxfp4,
        }
    }

    /// Bytes per routed-expert weight when the rest of the model is `model`.
    pub fn bytes(self, model: Dtype) -> f64 {
        match self {
            ExpertWeights::AsModel => model.bytes(),
            ExpertWeights::Mxfp4 => 4.25 / 8.0,
        }
    }
}

/// Sliding-window attention layers (gpt-oss: every other layer attends to the last 128
/// tokens): such a layer reads and caches at most `tokens` tokens per sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlidingWindow {
    /// Tokens a sliding layer attends to, per sequence.
    pub tokens: u32,
    /// Layers that use the window (at most `num_layers`); the others attend to the whole
    /// context.
    pub layers: u32,
}

/// Multi-head latent attention (DeepSeek-V2/V3) description.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mla {
    /// Rank of the compressed KV latent (what the KV cache stores, plus the rope part).
    pub kv_lora_rank: u32,
    /// Rank of the compressed query (0 = no query compression).
    pub q_lora_rank: u32,
    /// Per-head dimension of the rotary part of q/k.
    pub qk_rope_head_dim: u32,
    /// Per-head dimension of the non-rotary part of q/k.
    pub qk_nope_head_dim: u32,
    /// Per-head dimension of v.
    pub v_head_dim: u32,
}

/// A decoder-only transformer architecture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelArch {
    /// Catalog id (`qwen3-32b`) or the name given to a loaded config.
    pub id: String,
    /// Hugging Face repository the numbers come from (documentation only).
    pub hf_repo: String,
    /// Hidden size (d_model).
    pub hidden_size: u32,
    /// Decoder layers.
    pub num_layers: u32,
    /// Attention (query) heads.
    pub num_heads: u32,
    /// KV heads (GQA); equals `num_heads` for MHA.
    pub num_kv_heads: u32,
    /// Per-head dimension of q/k/v (for MLA: see [`Mla`]).
    pub head_dim: u32,
    /// Dense FFN intermediate size.
    pub intermediate_size: u32,
    /// Vocabulary size.
    pub vocab_size: u32,
    /// Whether the lm_head shares the embedding matrix.
    pub tie_word_embeddings: bool,
    /// Maximum context length (tokens).
    pub max_position_embeddings: u32,
    /// MoE FFN, if any.
    pub moe: Option<Moe>,
    /// MLA attention, if any.
    pub mla: Option<Mla>,
    /// Sliding-window attention layers, if any.
    #[serde(default)]
    pub sliding_window: Option<SlidingWindow>,
    /// Multi-token-prediction layers (DeepSeek `num_nextn_predict_layers`), the draft head
    /// of MTP speculative decoding; not in the parameter count.
    #[serde(default)]
    pub mtp_layers: u32,
}

/// Why a model could not be resolved or loaded. All variants are fatal for the run.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The id is not in the built-in catalog.
    #[error(
        "unknown model `{id}`; built-in models: {known}; or give the path of a Hugging Face config.json"
    )]
    Unknown {
        /// The id asked for.
        id: String,
        /// Comma-separated catalog ids.
        known: String,
    },
    /// A config file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A config file is not valid JSON or misses a field.
    #[error("{path}: {field}: {message}")]
    Config {
        /// The file.
        path: PathBuf,
        /// JSON path of the offending field.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// Catalog ids, in the order reports list them.
const CATALOG: &[&str] = &[
    "qwen3-8b",
    "qwen3-32b",
    "qwen3-235b-a22b",
    "llama-3.1-8b",
    "llama-3.1-70b",
    "llama-2-70b",
    "deepseek-v3",
    "deepseek-r1",
    "gpt-oss-120b",
];

/// A dense GQA model of the catalog (no MoE, no MLA).
#[allow(clippy::too_many_arguments)]
fn dense(
    id: &str,
    hf_repo: &str,
    hidden_size: u32,
    num_layers: u32,
    num_heads: u32,
    num_kv_heads: u32,
    head_dim: u32,
    intermediate_size: u32,
    vocab_size: u32,
    max_position_embeddings: u32,
) -> ModelArch {
    ModelArch {
        id: id.to_owned(),
        hf_repo: hf_repo.to_owned(),
        hidden_size,
        num_layers,
        num_heads,
        num_kv_heads,
        head_dim,
        intermediate_size,
        vocab_size,
        tie_word_embeddings: false,
        max_position_embeddings,
        moe: None,
        mla: None,
        sliding_window: None,
        mtp_layers: 0,
    }
}

impl ModelArch {
    /// The built-in catalog ids.
    pub fn catalog_ids() -> &'static [&'static str] {
        CATALOG
    }

    /// A model from the built-in catalog.
    ///
    /// Every number is the one in the model's published Hugging Face `config.json`
    /// (repository in [`ModelArch::hf_repo`]).
    pub fn builtin(id: &str) -> Result<ModelArch, ModelError> {
        let arch = match id {
            // huggingface.co/Qwen/Qwen3-8B config.json (Qwen3ForCausalLM).
            "qwen3-8b" => dense(
                id,
                "Qwen/Qwen3-8B",
                4096,
                36,
                32,
                8,
                128,
                12288,
                151_936,
                40_960,
            ),
            // huggingface.co/Qwen/Qwen3-32B config.json (Qwen3ForCausalLM).
            "qwen3-32b" => dense(
                id,
                "Qwen/Qwen3-32B",
                5120,
                64,
                64,
                8,
                128,
                25_600,
                151_936,
                40_960,
            ),
            // huggingface.co/Qwen/Qwen3-235B-A22B config.json (Qwen3MoeForCausalLM):
            // num_experts 128, num_experts_per_tok 8, moe_intermediate_size 1536,
            // decoder_sparse_step 1, mlp_only_layers [] (every layer is MoE).
            "qwen3-235b-a22b" => ModelArch {
                moe: Some(Moe {
                    num_experts: 128,
                    experts_per_token: 8,
                    expert_intermediate_size: 1536,
                    num_shared_experts: 0,
                    shared_expert_intermediate_size: 0,
                    first_dense_layers: 0,
                    expert_weights: ExpertWeights::AsModel,
                }),
                ..dense(
                    id,
                    "Qwen/Qwen3-235B-A22B",
                    4096,
                    94,
                    64,
                    4,
                    128,
                    12_288,
                    151_936,
                    40_960,
                )
            },
            // huggingface.co/meta-llama/Llama-3.1-8B-Instruct config.json (LlamaForCausalLM).
            "llama-3.1-8b" => dense(
                id,
                "meta-llama/Llama-3.1-8B-Instruct",
                4096,
                32,
                32,
                8,
                128,
                14_336,
                128_256,
                131_072,
            ),
            // huggingface.co/meta-llama/Llama-3.1-70B-Instruct config.json (LlamaForCausalLM).
            "llama-3.1-70b" => dense(
                id,
                "meta-llama/Llama-3.1-70B-Instruct",
                8192,
                80,
                64,
                8,
                128,
                28_672,
                128_256,
                131_072,
            ),
            // huggingface.co/meta-llama/Llama-2-70b-hf config.json (LlamaForCausalLM).
            "llama-2-70b" => dense(
                id,
                "meta-llama/Llama-2-70b-hf",
                8192,
                80,
                64,
                8,
                128,
                28_672,
                32_000,
                4096,
            ),
            // huggingface.co/deepseek-ai/DeepSeek-V3 config.json (DeepseekV3ForCausalLM):
            // n_routed_experts 256, num_experts_per_tok 8, moe_intermediate_size 2048,
            // n_shared_experts 1, first_k_dense_replace 3, kv_lora_rank 512,
            // q_lora_rank 1536, qk_rope_head_dim 64, qk_nope_head_dim 128, v_head_dim 128.
            // The one MTP layer (num_nextn_predict_layers 1) is not part of the 671B.
            "deepseek-v3" => ModelArch {
                moe: Some(Moe {
                    num_experts: 256,
                    experts_per_token: 8,
                    expert_intermediate_size: 2048,
                    num_shared_experts: 1,
                    shared_expert_intermediate_size: 2048,
                    first_dense_layers: 3,
                    expert_weights: ExpertWeights::AsModel,
                }),
                mla: Some(Mla {
                    kv_lora_rank: 512,
                    q_lora_rank: 1536,
                    qk_rope_head_dim: 64,
                    qk_nope_head_dim: 128,
                    v_head_dim: 128,
                }),
                mtp_layers: 1,
                ..dense(
                    id,
                    "deepseek-ai/DeepSeek-V3",
                    7168,
                    61,
                    128,
                    128,
                    192,
                    18_432,
                    129_280,
                    163_840,
                )
            },
            // huggingface.co/deepseek-ai/DeepSeek-R1 config.json: DeepSeek-V3's architecture
            // (DeepseekV3ForCausalLM, the same sizes), its own weights.
            "deepseek-r1" => ModelArch {
                id: id.to_owned(),
                hf_repo: "deepseek-ai/DeepSeek-R1".to_owned(),
                ..ModelArch::builtin("deepseek-v3")?
            },
            // huggingface.co/openai/gpt-oss-120b config.json (GptOssForCausalLM):
            // num_local_experts 128, num_experts_per_tok 4, intermediate_size 2880 (each
            // expert's), head_dim 64, sliding_window 128 on the even layers of
            // layer_types (18 of 36), quantization_config.quant_method "mxfp4" (the
            // experts; attention, router and embeddings bf16). Attention sinks (one
            // learned logit per head) and the attention biases are not costed (well under
            // 0.1% of a step).
            "gpt-oss-120b" => ModelArch {
                moe: Some(Moe {
                    num_experts: 128,
                    experts_per_token: 4,
                    expert_intermediate_size: 2880,
                    num_shared_experts: 0,
                    shared_expert_intermediate_size: 0,
                    first_dense_layers: 0,
                    expert_weights: ExpertWeights::Mxfp4,
                }),
                sliding_window: Some(SlidingWindow {
                    tokens: 128,
                    layers: 18,
                }),
                ..dense(
                    id,
                    "openai/gpt-oss-120b",
                    2880,
                    36,
                    64,
                    8,
                    64,
                    2880,
                    201_088,
                    131_072,
                )
            },
            _ => {
                return Err(ModelError::Unknown {
                    id: id.to_owned(),
                    known: CATALOG.join(", "),
                });
            }
        };
        Ok(arch)
    }

    /// Resolve a catalog id, or else a path to a Hugging Face `config.json` (or to a
    /// directory holding one).
    pub fn resolve(id_or_path: &str) -> Result<ModelArch, ModelError> {
        if CATALOG.contains(&id_or_path) {
            return ModelArch::builtin(id_or_path);
        }
        let path = Path::new(id_or_path);
        if path.is_dir() {
            return ModelArch::from_hf_config_file(&path.join("config.json"));
        }
        if path.exists() {
            return ModelArch::from_hf_config_file(path);
        }
        Err(ModelError::Unknown {
            id: id_or_path.to_owned(),
            known: CATALOG.join(", "),
        })
    }

    /// Load a Hugging Face `config.json`.
    ///
    /// The id is the name of the directory holding `config.json` (the usual layout of a
    /// downloaded model), else the file stem.
    pub fn from_hf_config_file(path: &Path) -> Result<ModelArch, ModelError> {
        let text =
            crate::file::read_text(path, crate::file::MAX_TEXT_FILE_BYTES).map_err(|source| {
                ModelError::Io {
                    path: path.to_path_buf(),
                    source,
                }
            })?;
        ModelArch::from_hf_config_str(&text, path)
    }

    /// Parse the text of a Hugging Face `config.json`; `path` names it in errors and
    /// gives the id (see [`Self::from_hf_config_file`]).
    ///
    /// Understands the key names of Llama, Mistral, Mixtral, Qwen2/2.5/3, Qwen2-MoE,
    /// Qwen3-MoE and DeepSeek-V2/V3 configs, and a `text_config` object as nested by
    /// some multimodal configs. `head_dim` defaults to `hidden_size / num_attention_heads`,
    /// `num_key_value_heads` to `num_attention_heads`, `tie_word_embeddings` to false.
    pub fn from_hf_config_str(json: &str, path: &Path) -> Result<ModelArch, ModelError> {
        let root: Value = serde_json::from_str(json).map_err(|e| ModelError::Config {
            path: path.to_path_buf(),
            field: format!("line {} column {}", e.line(), e.column()),
            message: format!("not valid JSON: {e}"),
        })?;
        let Some(root_obj) = root.as_object() else {
            return Err(ModelError::Config {
                path: path.to_path_buf(),
                field: "$".to_owned(),
                message: "expected a JSON object".to_owned(),
            });
        };
        // Multimodal configs (Llava, Qwen2.5-VL in newer layouts, Llama-4, Mistral-3)
        // keep the language model under `text_config`.
        let (obj, prefix) = match root_obj.get("text_config") {
            Some(Value::Object(t)) if !root_obj.contains_key("hidden_size") => (t, "text_config."),
            _ => (root_obj, ""),
        };
        let cfg = Cfg { obj, prefix, path };
        let id = config_id(path);
        let hf_repo = root_obj
            .get("_name_or_path")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map_or_else(|| path.display().to_string(), str::to_owned);
        cfg.parse(id, hf_repo)
    }

    /// Total parameters.
    pub fn param_count(&self) -> f64 {
        let dense_layers = f64::from(self.num_dense_ffn_layers());
        let moe_layers = f64::from(self.num_moe_layers());
        self.embedding_params()
            + f64::from(self.num_layers)
                * (self.attention_params_per_layer() + self.norm_params_per_layer())
            + dense_layers * self.dense_ffn_params_per_layer()
            + moe_layers * self.moe_params_per_layer(false)
            + f64::from(self.hidden_size)
    }

    /// Parameters activated per token (equals [`Self::param_count`] for dense models).
    ///
    /// Counts the input embedding and lm_head, all attention and dense-FFN weights, and
    /// per MoE layer the router, the shared experts and `experts_per_token` routed experts.
    pub fn active_param_count(&self) -> f64 {
        let dense_layers = f64::from(self.num_dense_ffn_layers());
        let moe_layers = f64::from(self.num_moe_layers());
        self.embedding_params()
            + f64::from(self.num_layers)
                * (self.attention_params_per_layer() + self.norm_params_per_layer())
            + dense_layers * self.dense_ffn_params_per_layer()
            + moe_layers * self.moe_params_per_layer(true)
            + f64::from(self.hidden_size)
    }

    /// KV-cache bytes per token for the whole model (all layers, all KV heads).
    ///
    /// GQA/MHA: `layers x 2 x kv_heads x head_dim x bytes`; MLA: the compressed latent
    /// plus the rope key, `layers x (kv_lora_rank + qk_rope_head_dim) x bytes`.
    /// Sliding-window layers count only their window, which a sequence holds whatever its
    /// length ([`Self::kv_window_bytes_per_seq_per_gpu`]): this is the full-attention
    /// layers' share.
    pub fn kv_bytes_per_token(&self, kv: Dtype) -> f64 {
        f64::from(self.full_attention_layers())
            * self.kv_elems_per_token_per_layer(self.num_kv_heads)
            * kv.bytes()
    }

    /// KV-cache bytes one token occupies on each GPU of a TP group of `tp`, all
    /// full-attention layers (sliding-window layers: [`Self::kv_window_bytes_per_seq_per_gpu`]).
    ///
    /// GQA: each GPU keeps `kv_heads / tp` heads, at least one (KV heads are replicated
    /// when `tp > kv_heads`). MLA: the latent is replicated on every TP rank.
    pub fn kv_bytes_per_token_per_gpu(&self, kv: Dtype, tp: u32) -> f64 {
        f64::from(self.full_attention_layers())
            * self.kv_elems_per_token_per_layer(self.kv_heads_per_gpu(tp))
            * kv.bytes()
    }

    /// KV-cache bytes the sliding-window layers hold per sequence on each GPU at TP `tp`
    /// (a full window, whatever the sequence's length: a bound); 0 without them.
    pub fn kv_window_bytes_per_seq_per_gpu(&self, kv: Dtype, tp: u32) -> f64 {
        self.sliding_window.map_or(0.0, |w| {
            f64::from(w.layers)
                * f64::from(w.tokens)
                * self.kv_elems_per_token_per_layer(self.kv_heads_per_gpu(tp))
                * kv.bytes()
        })
    }

    /// Layers that attend to the whole context: all but the sliding-window ones.
    pub fn full_attention_layers(&self) -> u32 {
        self.num_layers
            - self
                .sliding_window
                .map_or(0, |w| w.layers.min(self.num_layers))
    }

    /// Routed-expert parameters, all MoE layers (0 for a dense model).
    pub fn routed_expert_params(&self) -> f64 {
        self.moe.as_ref().map_or(0.0, |m| {
            f64::from(self.num_moe_layers())
                * f64::from(m.num_experts)
                * 3.0
                * f64::from(self.hidden_size)
                * f64::from(m.expert_intermediate_size)
        })
    }

    /// Weight bytes of the whole model with `weights` for everything but the token
    /// embedding and `lm_head`, which stay BF16 in FP8 checkpoints (NVIDIA ModelOpt,
    /// DeepSeek's and Qwen's own FP8 releases, vLLM's and SGLang's online FP8 all quantize
    /// the linear layers only), and routed experts stored otherwise ([`ExpertWeights`]).
    pub fn weight_bytes(&self, weights: Dtype) -> f64 {
        let routed = self.routed_expert_params();
        let expert = self
            .moe
            .as_ref()
            .map_or(weights.bytes(), |m| m.expert_weights.bytes(weights));
        let embedding = self.embedding_params();
        (self.param_count() - routed - embedding) * weights.bytes()
            + embedding * Dtype::Bf16.bytes()
            + routed * expert
    }

    /// KV heads held by each GPU at TP `tp`: `kv_heads / tp`, at least 1 (replicated).
    pub fn kv_heads_per_gpu(&self, tp: u32) -> u32 {
        (self.num_kv_heads / tp.max(1)).max(1)
    }

    /// Layers whose FFN is dense (`intermediate_size`): all of them for a dense model.
    pub fn num_dense_ffn_layers(&self) -> u32 {
        match &self.moe {
            Some(m) => m.first_dense_layers.min(self.num_layers),
            None => self.num_layers,
        }
    }

    /// Layers whose FFN is a mixture of experts.
    pub fn num_moe_layers(&self) -> u32 {
        self.num_layers - self.num_dense_ffn_layers()
    }

    /// Embedding parameters: the input embedding plus the lm_head unless tied.
    pub fn embedding_params(&self) -> f64 {
        let one = f64::from(self.vocab_size) * f64::from(self.hidden_size);
        if self.tie_word_embeddings {
            one
        } else {
            2.0 * one
        }
    }

    /// Attention parameters of one layer (projections, plus MLA's latent norms).
    pub fn attention_params_per_layer(&self) -> f64 {
        let h = f64::from(self.hidden_size);
        let nh = f64::from(self.num_heads);
        match &self.mla {
            Some(m) => {
                let qk = f64::from(m.qk_nope_head_dim + m.qk_rope_head_dim);
                let q = if m.q_lora_rank > 0 {
                    let r = f64::from(m.q_lora_rank);
                    // q_a_proj, q_a_layernorm, q_b_proj
                    h * r + r + r * nh * qk
                } else {
                    h * nh * qk
                };
                let kvr = f64::from(m.kv_lora_rank);
                // kv_a_proj_with_mqa, kv_a_layernorm, kv_b_proj
                let kv = h * (kvr + f64::from(m.qk_rope_head_dim))
                    + kvr
                    + kvr * nh * f64::from(m.qk_nope_head_dim + m.v_head_dim);
                let o = nh * f64::from(m.v_head_dim) * h;
                q + kv + o
            }
            None => {
                let hd = f64::from(self.head_dim);
                let nkv = f64::from(self.num_kv_heads);
                // q, k, v and o projections
                h * (nh + 2.0 * nkv) * hd + nh * hd * h
            }
        }
    }

    /// Dense (SwiGLU) FFN parameters of one layer: gate, up and down, `3 x h x I`.
    pub fn dense_ffn_params_per_layer(&self) -> f64 {
        3.0 * f64::from(self.hidden_size) * f64::from(self.intermediate_size)
    }

    /// MoE FFN parameters of one MoE layer (router, shared and routed experts); with
    /// `active`, only the `experts_per_token` routed experts one token uses.
    pub fn moe_params_per_layer(&self, active: bool) -> f64 {
        let Some(m) = &self.moe else {
            return 0.0;
        };
        let h = f64::from(self.hidden_size);
        let expert = 3.0 * h * f64::from(m.expert_intermediate_size);
        let shared = f64::from(m.num_shared_experts)
            * 3.0
            * h
            * f64::from(m.shared_expert_intermediate_size);
        let router = h * f64::from(m.num_experts);
        let routed = if active {
            m.experts_per_token
        } else {
            m.num_experts
        };
        router + shared + f64::from(routed) * expert
    }

    /// RMSNorm weights of one layer (input and post-attention norms).
    fn norm_params_per_layer(&self) -> f64 {
        2.0 * f64::from(self.hidden_size)
    }

    /// KV elements per token per layer with `kv_heads` heads (MLA ignores the heads).
    fn kv_elems_per_token_per_layer(&self, kv_heads: u32) -> f64 {
        match &self.mla {
            Some(m) => f64::from(m.kv_lora_rank + m.qk_rope_head_dim),
            None => 2.0 * f64::from(kv_heads) * f64::from(self.head_dim),
        }
    }
}

mod config;
#[cfg(test)]
mod tests;
