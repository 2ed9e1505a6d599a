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
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
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

    /// Weight bytes of the whole model with `weights` for everything but routed experts
    /// stored otherwise ([`ExpertWeights`]).
    pub fn weight_bytes(&self, weights: Dtype) -> f64 {
        let routed = self.routed_expert_params();
        let expert = self
            .moe
            .as_ref()
            .map_or(weights.bytes(), |m| m.expert_weights.bytes(weights));
        (self.param_count() - routed) * weights.bytes() + routed * expert
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

/// The id of a loaded config: its directory name for `.../<name>/config.json`, else the
/// file stem.
fn config_id(path: &Path) -> String {
    let parent_name = path
        .parent()
        .and_then(Path::file_name)
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty());
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".to_owned());
    if stem == "config" {
        parent_name.unwrap_or(stem)
    } else {
        stem
    }
}

/// A view of the (possibly nested) config object that reports errors with the file
/// and the full JSON path of the field.
struct Cfg<'a> {
    obj: &'a Map<String, Value>,
    prefix: &'static str,
    path: &'a Path,
}

impl Cfg<'_> {
    fn err(&self, key: &str, message: impl Into<String>) -> ModelError {
        ModelError::Config {
            path: self.path.to_path_buf(),
            field: format!("{}{}", self.prefix, key),
            message: message.into(),
        }
    }

    /// The value of `key`, `None` when absent or `null`.
    fn get(&self, key: &str) -> Option<&Value> {
        self.obj.get(key).filter(|v| !v.is_null())
    }

    /// A non-negative integer that fits `u32`, if present.
    fn count(&self, key: &str) -> Result<Option<u32>, ModelError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let n = match v {
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    Some(u)
                } else {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= f64::from(u32::MAX))
                        .map(|f| f as u64)
                }
            }
            _ => None,
        };
        match n.and_then(|u| u32::try_from(u).ok()) {
            Some(u) => Ok(Some(u)),
            None => Err(self.err(key, format!("expected a non-negative integer, got {v}"))),
        }
    }

    /// A positive integer, if present.
    fn positive(&self, key: &str) -> Result<Option<u32>, ModelError> {
        match self.count(key)? {
            Some(0) => Err(self.err(key, "must be positive, got 0")),
            other => Ok(other),
        }
    }

    /// A required positive integer.
    fn required(&self, key: &str) -> Result<u32, ModelError> {
        self.positive(key)?
            .ok_or_else(|| self.err(key, "missing required field"))
    }

    /// A non-negative integer at most `max`, if present.
    fn count_in(&self, key: &str, max: u32) -> Result<Option<u32>, ModelError> {
        match self.count(key)? {
            Some(n) if n > max => Err(self.err(key, format!("{n} must be in [0, {max}]"))),
            other => Ok(other),
        }
    }

    /// A positive integer at most `max`, if present.
    fn positive_in(&self, key: &str, max: u32) -> Result<Option<u32>, ModelError> {
        match self.positive(key)? {
            Some(n) if n > max => Err(self.err(key, format!("{n} must be in [1, {max}]"))),
            other => Ok(other),
        }
    }

    /// A required positive integer at most `max`.
    fn required_in(&self, key: &str, max: u32) -> Result<u32, ModelError> {
        self.positive_in(key, max)?
            .ok_or_else(|| self.err(key, "missing required field"))
    }

    /// A boolean, if present.
    fn boolean(&self, key: &str) -> Result<Option<bool>, ModelError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.err(key, format!("expected true or false, got {v}"))),
        }
    }

    fn parse(&self, id: String, hf_repo: String) -> Result<ModelArch, ModelError> {
        let hidden_size = self.required_in("hidden_size", MAX_CONFIG_DIM)?;
        let num_layers = self.required_in("num_hidden_layers", MAX_CONFIG_LAYERS)?;
        let num_heads = self.required_in("num_attention_heads", MAX_CONFIG_HEADS)?;
        let num_kv_heads = self
            .positive_in("num_key_value_heads", MAX_CONFIG_HEADS)?
            .unwrap_or(num_heads);
        let intermediate_size = self.required_in("intermediate_size", MAX_CONFIG_DIM)?;
        let vocab_size = self.required_in("vocab_size", MAX_CONFIG_VOCAB)?;
        let max_position_embeddings =
            self.required_in("max_position_embeddings", MAX_CONFIG_POSITIONS)?;
        let tie_word_embeddings = self.boolean("tie_word_embeddings")?.unwrap_or(false);

        let mla = self.parse_mla()?;
        let head_dim = match (&mla, self.positive_in("head_dim", MAX_CONFIG_DIM)?) {
            (Some(m), _) => m.qk_nope_head_dim + m.qk_rope_head_dim,
            (None, Some(d)) => d,
            (None, None) => {
                if !hidden_size.is_multiple_of(num_heads) {
                    return Err(self.err(
                        "head_dim",
                        format!(
                            "missing, and hidden_size {hidden_size} is not a multiple of num_attention_heads {num_heads}"
                        ),
                    ));
                }
                hidden_size / num_heads
            }
        };
        if mla.is_none() && !num_heads.is_multiple_of(num_kv_heads) {
            return Err(self.err(
                "num_key_value_heads",
                format!("{num_kv_heads} does not divide num_attention_heads {num_heads}"),
            ));
        }
        let moe = self.parse_moe(num_layers, intermediate_size)?;
        let sliding_window = self.parse_sliding(num_layers)?;
        Ok(ModelArch {
            id,
            hf_repo,
            hidden_size,
            num_layers,
            num_heads,
            num_kv_heads,
            head_dim,
            intermediate_size,
            vocab_size,
            tie_word_embeddings,
            max_position_embeddings,
            moe,
            mla,
            sliding_window,
            mtp_layers: self
                .count_in("num_nextn_predict_layers", MAX_CONFIG_LAYERS)?
                .unwrap_or(0),
        })
    }

    /// Sliding-window layers from `layer_types` (`"sliding_attention"` entries, as
    /// gpt-oss and Gemma configs list them) with `sliding_window` tokens; `None` when no
    /// layer is listed as sliding (a `sliding_window` without `layer_types`, as Qwen and
    /// Mistral configs carry, is not applied: their layers attend to the whole context
    /// unless `use_sliding_window` says otherwise, which xpyd does not model).
    fn parse_sliding(&self, num_layers: u32) -> Result<Option<SlidingWindow>, ModelError> {
        let layers = match self.get("layer_types") {
            None => return Ok(None),
            Some(Value::Array(items)) => {
                if items.len() != num_layers as usize {
                    return Err(self.err(
                        "layer_types",
                        format!("{} entries for num_hidden_layers {num_layers}", items.len()),
                    ));
                }
                items
                    .iter()
                    .filter(|v| v.as_str() == Some("sliding_attention"))
                    .count()
            }
            Some(v) => {
                return Err(self.err(
                    "layer_types",
                    format!("expected a list of layer types, got {v}"),
                ));
            }
        };
        if layers == 0 {
            return Ok(None);
        }
        if layers == num_layers as usize {
            return Err(self.err(
                "layer_types",
                "every layer is sliding_attention: a model without a full-attention layer is not modelled (its KV per token would be 0)",
            ));
        }
        let tokens = self
            .positive_in("sliding_window", MAX_CONFIG_POSITIONS)?
            .ok_or_else(|| {
                self.err(
                    "sliding_window",
                    "missing: layer_types lists sliding_attention layers",
                )
            })?;
        Ok(Some(SlidingWindow {
            tokens,
            layers: u32::try_from(layers).unwrap_or(num_layers),
        }))
    }

    /// MLA (DeepSeek-V2/V3) when `kv_lora_rank` is set.
    fn parse_mla(&self) -> Result<Option<Mla>, ModelError> {
        let Some(kv_lora_rank) = self.positive_in("kv_lora_rank", MAX_CONFIG_DIM)? else {
            return Ok(None);
        };
        Ok(Some(Mla {
            kv_lora_rank,
            // null in DeepSeek-V2-Lite: no query compression.
            q_lora_rank: self.count_in("q_lora_rank", MAX_CONFIG_DIM)?.unwrap_or(0),
            qk_rope_head_dim: self.required_in("qk_rope_head_dim", MAX_CONFIG_DIM)?,
            qk_nope_head_dim: self.required_in("qk_nope_head_dim", MAX_CONFIG_DIM)?,
            v_head_dim: self.required_in("v_head_dim", MAX_CONFIG_DIM)?,
        }))
    }

    /// MoE from the DeepSeek (`n_routed_experts`), Qwen-MoE (`num_experts`) or Mixtral
    /// (`num_local_experts`) key names; `None` for a dense model.
    fn parse_moe(
        &self,
        num_layers: u32,
        intermediate_size: u32,
    ) -> Result<Option<Moe>, ModelError> {
        let mut experts = None;
        for key in ["n_routed_experts", "num_experts", "num_local_experts"] {
            if let Some(n) = self.count_in(key, MAX_CONFIG_HEADS)? {
                experts = Some((key, n));
                break;
            }
        }
        let Some((experts_key, num_experts)) = experts.filter(|&(_, n)| n > 0) else {
            return Ok(None);
        };
        let experts_per_token = self.required("num_experts_per_tok")?;
        if experts_per_token > num_experts {
            return Err(self.err(
                "num_experts_per_tok",
                format!("{experts_per_token} exceeds {experts_key} {num_experts}"),
            ));
        }
        // Mixtral has no moe_intermediate_size: its experts use intermediate_size.
        let expert_intermediate_size = self
            .positive_in("moe_intermediate_size", MAX_CONFIG_DIM)?
            .unwrap_or(intermediate_size);
        let (num_shared_experts, shared_expert_intermediate_size) =
            if let Some(n) = self.count_in("n_shared_experts", MAX_CONFIG_HEADS)? {
                (n, if n > 0 { expert_intermediate_size } else { 0 })
            } else if let Some(size) =
                self.count_in("shared_expert_intermediate_size", MAX_CONFIG_DIM)?
            {
                // Qwen2-MoE: one shared expert of that size.
                (u32::from(size > 0), size)
            } else {
                (0, 0)
            };
        let first_dense_layers = if let Some(k) = self.count("first_k_dense_replace")? {
            // DeepSeek: layers >= k are MoE when i % moe_layer_freq == 0.
            if k > num_layers {
                return Err(self.err(
                    "first_k_dense_replace",
                    format!("{k} exceeds num_hidden_layers {num_layers}"),
                ));
            }
            let freq = self.positive("moe_layer_freq")?.unwrap_or(1);
            let moe_layers = (k..num_layers).filter(|i| i.is_multiple_of(freq)).count();
            num_layers - u32::try_from(moe_layers).unwrap_or(num_layers)
        } else {
            // Qwen-MoE: layer i is MoE unless listed in mlp_only_layers or
            // (i + 1) % decoder_sparse_step != 0. Dense layers are counted (their
            // position does not change the cost).
            let step = self.positive("decoder_sparse_step")?.unwrap_or(1);
            let mlp_only = self.layer_list("mlp_only_layers")?;
            let dense = (0..num_layers)
                .filter(|i| mlp_only.contains(i) || !(i + 1).is_multiple_of(step))
                .count();
            u32::try_from(dense).unwrap_or(num_layers)
        };
        // gpt-oss: `quantization_config.quant_method = "mxfp4"` quantises the experts.
        let mxfp4 = self
            .get("quantization_config")
            .and_then(|q| q.get("quant_method"))
            .and_then(Value::as_str)
            == Some("mxfp4");
        Ok(Some(Moe {
            num_experts,
            experts_per_token,
            expert_intermediate_size,
            num_shared_experts,
            shared_expert_intermediate_size,
            first_dense_layers,
            expert_weights: if mxfp4 {
                ExpertWeights::Mxfp4
            } else {
                ExpertWeights::AsModel
            },
        }))
    }

    /// A list of layer indices (absent or null: empty).
    fn layer_list(&self, key: &str) -> Result<Vec<u32>, ModelError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_u64()
                        .and_then(|u| u32::try_from(u).ok())
                        .ok_or_else(|| self.err(key, format!("expected layer indices, got {v}")))
                })
                .collect(),
            Some(v) => Err(self.err(key, format!("expected a list of layer indices, got {v}"))),
        }
    }
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn param_counts_match_published_sizes() {
        let p = |id: &str| ModelArch::builtin(id).unwrap();
        let within =
            |x: f64, lo: f64, hi: f64| assert!(x >= lo && x <= hi, "{x} not in [{lo}, {hi}]");
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
        let mut a =
            ModelArch::from_hf_config_str(json, Path::new("DeepSeek-V3/config.json")).unwrap();
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
}
