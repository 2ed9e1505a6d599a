//! Which shapes to measure: the GEMMs of each model's layers under tensor parallelism,
//! taken from [`ModelArch`].
//!
//! Invariants: shapes are deduplicated by `(n, k)` (labels joined) and sorted, so the
//! measured set does not depend on the order models are given in.

use crate::error::CalError;
use xpyd_models::ModelArch;

/// One weight shape of a linear layer on one GPU: output features `n`, input `k`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct GemmShape {
    pub(crate) n: u64,
    pub(crate) k: u64,
    /// `model/tpN/layer` labels, `;`-joined.
    pub(crate) label: String,
    /// Largest M worth measuring (lm_head only sees one token per sequence).
    pub(crate) max_m: u64,
}

/// Resolve the models to measure: `ids` (catalog ids or config.json paths), or the whole
/// catalog when empty. The notes are for the profile's log (none today).
pub(crate) fn resolve_models(ids: &[String]) -> Result<(Vec<ModelArch>, Vec<String>), CalError> {
    let resolved: Result<Vec<ModelArch>, _> = if ids.is_empty() {
        ModelArch::catalog_ids()
            .iter()
            .map(|id| ModelArch::builtin(id))
            .collect()
    } else {
        ids.iter().map(|id| ModelArch::resolve(id)).collect()
    };
    let models = resolved.map_err(|e| CalError::Input(e.to_string()))?;
    Ok((models, Vec::new()))
}

/// GEMM weight shapes of `models` at each TP degree in `tps` (attention projections,
/// MLA's included; dense FFN; lm_head); `notes` receives what was skipped.
pub(crate) fn gemm_shapes(
    models: &[ModelArch],
    tps: &[u32],
    max_m: u64,
    notes: &mut Vec<String>,
) -> Vec<GemmShape> {
    let mut raw: Vec<GemmShape> = Vec::new();
    for m in models {
        if m.moe.is_some() {
            notes.push(format!(
                "{}: MoE expert GEMMs are measured by scripts/moe_bench.py (grouped GEMMs)",
                m.id
            ));
        }
        for &tp in tps {
            if tp == 0 || m.num_heads % tp != 0 {
                continue;
            }
            let hd = u64::from(m.head_dim);
            let heads = u64::from(m.num_heads / tp);
            let kv = u64::from((m.num_kv_heads / tp).max(1));
            let hidden = u64::from(m.hidden_size);
            let inter = u64::from(m.intermediate_size) / u64::from(tp);
            let lab = |l: &str| format!("{}/tp{tp}/{l}", m.id);
            let mut push = |n: u64, k: u64, l: &str, cap: u64| {
                if n > 0 && k > 0 && k.is_multiple_of(16) {
                    raw.push(GemmShape {
                        n,
                        k,
                        label: lab(l),
                        max_m: cap,
                    });
                }
            };
            match &m.mla {
                None => {
                    push((heads + 2 * kv) * hd, hidden, "qkv", max_m);
                    push(hidden, heads * hd, "o", max_m);
                }
                Some(a) => {
                    // MLA projections (models/src/cost.rs): q down (replicated) and up,
                    // kv down to the latent + rope (replicated), kv up, O.
                    let (rope, nope) =
                        (u64::from(a.qk_rope_head_dim), u64::from(a.qk_nope_head_dim));
                    let (v, kvr, qr) = (
                        u64::from(a.v_head_dim),
                        u64::from(a.kv_lora_rank),
                        u64::from(a.q_lora_rank),
                    );
                    if qr > 0 {
                        push(qr, hidden, "mla_q_a", max_m);
                        push(heads * (nope + rope), qr, "mla_q_b", max_m);
                    } else {
                        push(heads * (nope + rope), hidden, "mla_q", max_m);
                    }
                    push(kvr + rope, hidden, "mla_kv_a", max_m);
                    push(heads * (nope + v), kvr, "mla_kv_b", max_m);
                    push(hidden, heads * v, "mla_o", max_m);
                }
            }
            let dense_ffn = m.moe.as_ref().is_none_or(|moe| moe.first_dense_layers > 0);
            if dense_ffn && inter > 0 {
                push(2 * inter, hidden, "gate_up", max_m);
                push(hidden, inter, "down", max_m);
            }
            push(
                u64::from(m.vocab_size).div_ceil(u64::from(tp)),
                hidden,
                "lm_head",
                max_m.min(4096),
            );
        }
    }
    raw.sort();
    let mut out: Vec<GemmShape> = Vec::new();
    for s in raw {
        match out.last_mut() {
            Some(l) if l.n == s.n && l.k == s.k => {
                l.label = format!("{};{}", l.label, s.label);
                l.max_m = l.max_m.max(s.max_m);
            }
            _ => out.push(s),
        }
    }
    out
}

/// Powers of two and 1.5 times powers of two (1, 2, 3, 4, 6, 8, 12, ...) up to `max_m`:
/// the half-steps show where cuBLASLt changes tiles.
pub(crate) fn m_grid(max_m: u64) -> Vec<u64> {
    let mut v = Vec::new();
    let mut m = 1;
    while m <= max_m {
        v.push(m);
        if m >= 2 && m + m / 2 <= max_m {
            v.push(m + m / 2);
        }
        m *= 2;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_has_half_steps_and_stops_at_max() {
        assert_eq!(m_grid(16), vec![1, 2, 3, 4, 6, 8, 12, 16]);
        assert_eq!(*m_grid(16384).last().unwrap(), 16384);
        assert!(m_grid(0).is_empty());
    }

    #[test]
    fn tp_splits_and_dedup() {
        let mut notes = Vec::new();
        let m = [ModelArch::builtin("llama-3.1-8b").unwrap()];
        let s = gemm_shapes(&m, &[1, 2, 8], 16384, &mut notes);
        // Llama-3.1-8B TP1 qkv: (32 + 2*8) * 128 = 6144 by 4096.
        assert!(s.iter().any(|g| g.n == 6144 && g.k == 4096));
        // TP8: 4 query heads + 2 x 1 KV head (8 KV heads / 8).
        assert!(s.iter().any(|g| g.n == 768 && g.k == 4096));
        // lm_head is capped at 4096 tokens.
        assert!(
            s.iter()
                .filter(|g| g.label.contains("lm_head"))
                .all(|g| g.max_m == 4096)
        );
        let mut sorted = s.clone();
        sorted.sort();
        sorted.dedup_by(|a, b| a.n == b.n && a.k == b.k);
        assert_eq!(sorted.len(), s.len(), "no duplicate (n, k)");
    }

    #[test]
    fn mla_projections_are_listed() {
        let mut notes = Vec::new();
        let m = [ModelArch::builtin("deepseek-v3").unwrap()];
        let s = gemm_shapes(&m, &[8], 16384, &mut notes);
        let has = |n: u64, k: u64, l: &str| {
            s.iter()
                .any(|g| g.n == n && g.k == k && g.label.contains(l))
        };
        // 128 heads / 8 = 16 per GPU.
        assert!(has(1536, 7168, "mla_q_a"));
        assert!(has(16 * 192, 1536, "mla_q_b"));
        assert!(has(576, 7168, "mla_kv_a"));
        assert!(has(16 * 256, 512, "mla_kv_b"));
        assert!(has(7168, 16 * 128, "mla_o"));
    }
}
