//! The lookup index of a profile: its tables grouped by key and sorted into the
//! interpolation structures once, when the profile is built, so that a lookup costs a
//! binary search and an interpolation.
//!
//! Invariants: every table is sorted by its key (lookups binary-search it), and the
//! floor and grid tables of decode and prefill attention are in the same order as the
//! curves they go with. Where rows repeat a point, the fastest is kept.

use super::interp::{Curve, Grid2};
use super::{
    HostCopyDirection, Profile, ProfileData, decode_attention_kv_bytes, prefill_attention_flops,
};
use crate::Dtype;

/// Key of a GEMM curve.
type GemmKey = (u64, u64, Dtype);

/// Sorted grids built once from [`ProfileData`].
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Index {
    /// `(n, k, dtype)` → seconds over m; sorted by key.
    pub(super) gemm: Vec<(GemmKey, Curve)>,
    /// `(kernel, head_dim)` → achieved FLOP/s over FLOPs; sorted by key.
    pub(super) prefill: Vec<((String, u32), Curve)>,
    /// `(kernel, head_dim)` → smallest measured seconds (launch floor); same order.
    pub(super) prefill_floor: Vec<f64>,
    /// `(head_dim, kv dtype, group)` → seconds per byte over bytes; sorted by key.
    pub(super) decode: Vec<((u32, Dtype, u32), Curve)>,
    /// Same order as `decode`: smallest measured seconds.
    pub(super) decode_floor: Vec<f64>,
    /// Same order as `decode`: seconds over (batch × kv_heads, context).
    pub(super) decode_grid: Vec<Grid2>,
    /// `(kv_lora_rank, rope_dim, kv dtype, heads)` → MLA decode seconds over
    /// (batch, context); sorted by key.
    pub(super) mla_decode: Vec<((u32, u32, Dtype, u32), Grid2)>,
    /// gpus → seconds over bytes; sorted by gpus.
    pub(super) allreduce: Vec<(u32, Curve)>,
    /// Seconds over bytes.
    pub(super) p2p: Curve,
    /// direction → seconds over bytes.
    pub(super) host: Vec<(HostCopyDirection, Curve)>,
    /// op → seconds over bytes.
    pub(super) memory: Vec<(String, Curve)>,
}

impl Profile {
    pub(super) fn build_index(d: &ProfileData) -> Index {
        fn group<K: Ord + Clone>(items: impl Iterator<Item = (K, (f64, f64))>) -> Vec<(K, Curve)> {
            let mut v: Vec<(K, (f64, f64))> = items.collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            let mut out: Vec<(K, Curve)> = Vec::new();
            let mut i = 0;
            while i < v.len() {
                let key = v[i].0.clone();
                let mut pts = Vec::new();
                while i < v.len() && v[i].0 == key {
                    pts.push(v[i].1);
                    i += 1;
                }
                out.push((key, Curve::from_points(pts)));
            }
            out
        }
        let gemm = group(
            d.gemm
                .iter()
                .map(|r| ((r.n, r.k, r.dtype), (r.m as f64, r.seconds))),
        );
        // Attention: seconds per unit of work over work, so that the "keep the smallest
        // y at equal x" rule keeps the fastest row.
        // Rows with their own v width (MLA) are looked up by the cost model directly.
        let prefill_rows = || {
            d.attention_prefill
                .iter()
                .filter(|r| r.v_head_dim.is_none())
                .map(|r| {
                    let flops = prefill_attention_flops(
                        r.batch,
                        r.new_tokens,
                        r.context,
                        r.heads,
                        r.head_dim,
                    );
                    ((r.kernel.clone(), r.head_dim), (flops, r.seconds))
                })
        };
        let prefill = group(prefill_rows().map(|(k, (w, s))| (k, (w, s / w))));
        let prefill_floor = group(prefill_rows())
            .iter()
            .map(|(_, c)| c.pts.iter().map(|p| p.1).fold(f64::INFINITY, f64::min))
            .collect();
        let decode_rows = || {
            d.attention_decode.iter().map(|r| {
                let bytes = decode_attention_kv_bytes(
                    r.batch, r.context, r.kv_heads, r.head_dim, r.kv_dtype,
                );
                let group = r.heads / r.kv_heads.max(1);
                ((r.head_dim, r.kv_dtype, group), (bytes, r.seconds))
            })
        };
        let decode = group(decode_rows().map(|(k, (w, s))| (k, (w, s / w))));
        let decode_floor = group(decode_rows())
            .iter()
            .map(|(_, c)| c.pts.iter().map(|p| p.1).fold(f64::INFINITY, f64::min))
            .collect();
        let decode_grid = decode
            .iter()
            .map(|((hd, dt, g), _)| {
                let pts: Vec<(f64, f64, f64)> = d
                    .attention_decode
                    .iter()
                    .filter(|r| {
                        r.head_dim == *hd && r.kv_dtype == *dt && r.heads / r.kv_heads.max(1) == *g
                    })
                    .map(|r| {
                        (
                            f64::from(r.batch) * f64::from(r.kv_heads),
                            f64::from(r.context),
                            r.seconds,
                        )
                    })
                    .collect();
                Grid2::from_points(&pts)
            })
            .collect();
        let mut mla_keys: Vec<(u32, u32, Dtype, u32)> = d
            .attention_decode_mla
            .iter()
            .map(|r| (r.kv_lora_rank, r.rope_dim, r.kv_dtype, r.heads))
            .collect();
        mla_keys.sort();
        mla_keys.dedup();
        let mla_decode = mla_keys
            .into_iter()
            .map(|k| {
                let pts: Vec<(f64, f64, f64)> = d
                    .attention_decode_mla
                    .iter()
                    .filter(|r| (r.kv_lora_rank, r.rope_dim, r.kv_dtype, r.heads) == k)
                    .map(|r| (f64::from(r.batch), f64::from(r.context), r.seconds))
                    .collect();
                (k, Grid2::from_points(&pts))
            })
            .collect();
        let allreduce = group(
            d.allreduce
                .iter()
                .map(|r| (r.gpus, (r.bytes as f64, r.seconds))),
        );
        let p2p = Curve::from_points(
            d.p2p_copy
                .iter()
                .map(|r| (r.bytes as f64, r.seconds))
                .collect(),
        );
        let host = group(
            d.host_copy
                .iter()
                .map(|r| (r.direction, (r.bytes as f64, r.seconds))),
        );
        let memory = group(
            d.memory_bound
                .iter()
                .map(|r| (r.op.clone(), (r.bytes as f64, r.seconds))),
        );
        Index {
            gemm,
            prefill,
            prefill_floor,
            decode,
            decode_floor,
            decode_grid,
            mla_decode,
            allreduce,
            p2p,
            host,
            memory,
        }
    }
}
