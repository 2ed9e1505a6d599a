//! Model architectures: the built-in catalog and Hugging Face `config.json` loading.
//!
//! A [`ModelArch`] describes a decoder-only transformer exactly enough to derive its
//! parameter count, weight bytes, per-layer GEMM shapes and KV bytes per token.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

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

impl ModelArch {
    /// The built-in catalog ids.
    pub fn catalog_ids() -> &'static [&'static str] {
        todo!()
    }

    /// A model from the built-in catalog.
    pub fn builtin(id: &str) -> Result<ModelArch, ModelError> {
        let _ = id;
        todo!()
    }

    /// Resolve a catalog id, or else a path to a Hugging Face `config.json`.
    pub fn resolve(id_or_path: &str) -> Result<ModelArch, ModelError> {
        let _ = id_or_path;
        todo!()
    }

    /// Load a Hugging Face `config.json`.
    pub fn from_hf_config_file(path: &Path) -> Result<ModelArch, ModelError> {
        let _ = path;
        todo!()
    }

    /// Total parameters.
    pub fn param_count(&self) -> f64 {
        todo!()
    }

    /// Parameters activated per token (equals [`Self::param_count`] for dense models).
    pub fn active_param_count(&self) -> f64 {
        todo!()
    }

    /// KV-cache bytes per token for the whole model (all layers, all KV heads).
    pub fn kv_bytes_per_token(&self, kv: crate::Dtype) -> f64 {
        let _ = kv;
        todo!()
    }
}
