//! Loading a Hugging Face `config.json` into a [`ModelArch`]: every field read through
//! [`Cfg`], which names the file and the field's JSON path in its errors and holds each
//! number to the ranges of the parent module.

use super::{
    ExpertWeights, MAX_CONFIG_DIM, MAX_CONFIG_HEADS, MAX_CONFIG_LAYERS, MAX_CONFIG_POSITIONS,
    MAX_CONFIG_VOCAB, Mla, ModelArch, ModelError, Moe, SlidingWindow,
};
use serde_json::{Map, Value};
use std::path::Path;

/// The id of a loaded config: its directory name for `.../<name>/config.json`, else the
/// file stem.
pub(super) fn config_id(path: &Path) -> String {
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
pub(super) struct Cfg<'a> {
    pub(super) obj: &'a Map<String, Value>,
    pub(super) prefix: &'static str,
    pub(super) path: &'a Path,
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

    pub(super) fn parse(&self, id: String, hf_repo: String) -> Result<ModelArch, ModelError> {
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
