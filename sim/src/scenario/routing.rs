//! `[routing]`: parameters of the routers that have them (Dynamo KV router, SGLang
//! cache-aware router, GAIE / llm-d endpoint picker), their wire form, defaults with
//! sources, and validation.

use super::ScenarioError;
use super::check::Validator;
use crate::limits::{MAX_BLOCK_TOKENS, MAX_CACHE_BLOCKS, MAX_TOKENS, MAX_WEIGHT};
use serde::{Deserialize, Serialize};

/// `[routing]`: parameters of the cache-aware routers (used by every role whose
/// `router` is that kind).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RoutingFile {
    /// Dynamo KV router.
    pub kv_aware: Option<KvAwareFile>,
    /// SGLang cache-aware router.
    pub cache_aware: Option<CacheAwareFile>,
    /// GAIE / llm-d endpoint picker.
    pub gaie: Option<GaieFile>,
}

/// `[routing.kv-aware]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct KvAwareFile {
    /// `--kv-overlap-score-weight` (default 1).
    pub overlap_weight: Option<f64>,
    /// `--router-temperature` (default 0: cheapest worker).
    pub temperature: Option<f64>,
    /// `--kv-cache-block-size`, tokens (default 16).
    pub block_tokens: Option<u32>,
}

/// `[routing.cache-aware]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CacheAwareFile {
    /// `--cache-threshold` (default 0.5).
    pub cache_threshold: Option<f64>,
    /// `--balance-abs-threshold`, requests (default 32).
    pub balance_abs_threshold: Option<u32>,
    /// `--balance-rel-threshold` (default 1.0001).
    pub balance_rel_threshold: Option<f64>,
    /// Approximate tree size per worker, hash blocks (default 65536).
    pub max_tree_blocks: Option<u32>,
}

/// `[routing.gaie]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct GaieFile {
    /// Prefix-cache scorer weight (default 2).
    pub prefix_weight: Option<f64>,
    /// Queue scorer weight (default 1).
    pub queue_weight: Option<f64>,
    /// KV-utilisation scorer weight (default 1).
    pub kv_weight: Option<f64>,
    /// Prefix index capacity per endpoint, hash blocks (`lruCapacityPerServer`, default 31250).
    pub lru_capacity_blocks: Option<u32>,
    /// Saturation: queue length at least this (default 5) ...
    pub saturation_queue: Option<u32>,
    /// ... and KV utilisation at least this (default 0.8).
    pub saturation_kv: Option<f64>,
    /// PD decider: prefill on the decode endpoint when fewer prompt tokens than this are
    /// uncached there (`nonCachedTokens`, default 16; 0 always disaggregates).
    pub non_cached_tokens: Option<u32>,
}

/// Dynamo KV router parameters.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KvAwareConfig {
    /// Weight of prefill blocks in the cost.
    pub overlap_weight: f64,
    /// Softmax temperature (0 = argmin).
    pub temperature: f64,
    /// Router block size, tokens.
    pub block_tokens: u32,
}

/// SGLang cache-aware router parameters.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CacheAwareConfig {
    /// Match rate above which the best-matching worker wins.
    pub cache_threshold: f64,
    /// Absolute load gap that (with the relative one) means imbalance.
    pub balance_abs_threshold: u32,
    /// Relative load ratio that (with the absolute one) means imbalance.
    pub balance_rel_threshold: f64,
    /// Approximate tree size per worker, hash blocks.
    pub max_tree_blocks: u32,
}

/// GAIE / llm-d picker parameters.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GaieConfig {
    /// Prefix scorer weight.
    pub prefix_weight: f64,
    /// Queue scorer weight.
    pub queue_weight: f64,
    /// KV utilisation scorer weight.
    pub kv_weight: f64,
    /// Prefix index capacity per endpoint, hash blocks.
    pub lru_capacity_blocks: u32,
    /// Saturation queue threshold.
    pub saturation_queue: u32,
    /// Saturation KV threshold.
    pub saturation_kv: f64,
    /// PD decider threshold, tokens.
    pub non_cached_tokens: u32,
}

/// Router parameters, validated.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RoutingConfig {
    /// Dynamo KV router.
    pub kv_aware: KvAwareConfig,
    /// SGLang cache-aware router.
    pub cache_aware: CacheAwareConfig,
    /// GAIE picker.
    pub gaie: GaieConfig,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            kv_aware: KvAwareConfig {
                overlap_weight: 1.0,
                temperature: 0.0,
                block_tokens: 16,
            },
            cache_aware: CacheAwareConfig {
                cache_threshold: 0.5,
                balance_abs_threshold: 32,
                balance_rel_threshold: 1.0001,
                max_tree_blocks: 65_536,
            },
            gaie: GaieConfig {
                prefix_weight: 2.0,
                queue_weight: 1.0,
                kv_weight: 1.0,
                lru_capacity_blocks: 31_250,
                saturation_queue: 5,
                saturation_kv: 0.8,
                non_cached_tokens: 16,
            },
        }
    }
}

pub(super) fn routing_config(
    v: &Validator,
    w: RoutingFile,
) -> Result<RoutingConfig, ScenarioError> {
    let RoutingFile {
        kv_aware,
        cache_aware,
        gaie,
    } = w;
    let mut c = RoutingConfig::default();
    if let Some(KvAwareFile {
        overlap_weight,
        temperature,
        block_tokens,
    }) = kv_aware
    {
        let k = &mut c.kv_aware;
        if let Some(x) = overlap_weight {
            k.overlap_weight =
                v.f64_in("routing.kv-aware.overlap-weight", x, (0.0, MAX_WEIGHT), "")?;
        }
        if let Some(x) = temperature {
            k.temperature = v.f64_in("routing.kv-aware.temperature", x, (0.0, MAX_WEIGHT), "")?;
        }
        if let Some(x) = block_tokens {
            k.block_tokens = v.count("routing.kv-aware.block-tokens", x, 1..=MAX_BLOCK_TOKENS)?;
        }
    }
    if let Some(CacheAwareFile {
        cache_threshold,
        balance_abs_threshold,
        balance_rel_threshold,
        max_tree_blocks,
    }) = cache_aware
    {
        let k = &mut c.cache_aware;
        if let Some(x) = cache_threshold {
            if !(0.0..=1.0).contains(&x) {
                return Err(v.invalid(
                    "routing.cache-aware.cache-threshold",
                    format!("must be in [0, 1], got {x:?}"),
                ));
            }
            k.cache_threshold = x;
        }
        if let Some(x) = balance_abs_threshold {
            k.balance_abs_threshold = x;
        }
        if let Some(x) = balance_rel_threshold {
            k.balance_rel_threshold = v.f64_in(
                "routing.cache-aware.balance-rel-threshold",
                x,
                (1.0, MAX_WEIGHT),
                "",
            )?;
        }
        if let Some(x) = max_tree_blocks {
            k.max_tree_blocks = v.count(
                "routing.cache-aware.max-tree-blocks",
                x,
                1..=MAX_CACHE_BLOCKS,
            )?;
        }
    }
    if let Some(GaieFile {
        prefix_weight,
        queue_weight,
        kv_weight,
        lru_capacity_blocks,
        saturation_queue,
        saturation_kv,
        non_cached_tokens,
    }) = gaie
    {
        let k = &mut c.gaie;
        if let Some(x) = prefix_weight {
            k.prefix_weight = v.f64_in("routing.gaie.prefix-weight", x, (0.0, MAX_WEIGHT), "")?;
        }
        if let Some(x) = queue_weight {
            k.queue_weight = v.f64_in("routing.gaie.queue-weight", x, (0.0, MAX_WEIGHT), "")?;
        }
        if let Some(x) = kv_weight {
            k.kv_weight = v.f64_in("routing.gaie.kv-weight", x, (0.0, MAX_WEIGHT), "")?;
        }
        if let Some(x) = lru_capacity_blocks {
            k.lru_capacity_blocks =
                v.count("routing.gaie.lru-capacity-blocks", x, 1..=MAX_CACHE_BLOCKS)?;
        }
        if let Some(x) = saturation_queue {
            k.saturation_queue = x;
        }
        if let Some(x) = saturation_kv {
            k.saturation_kv = v.fraction("routing.gaie.saturation-kv", x)?;
        }
        if let Some(x) = non_cached_tokens {
            k.non_cached_tokens = v.count("routing.gaie.non-cached-tokens", x, 0..=MAX_TOKENS)?;
        }
    }
    Ok(c)
}
