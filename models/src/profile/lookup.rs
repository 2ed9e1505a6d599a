//! The lookup API of a [`Profile`]: seconds of GEMMs, prefill and decode attention
//! (absorbed MLA included), all-reduce, host copies and memory-bound ops, the achieved
//! GPU-to-GPU copy rate, and the measured scalars, interpolated as the
//! [module docs](super) describe.
//!
//! Invariants: every lookup is exact at a measured grid point, monotone between two
//! adjacent ones, and `None` beyond [`MAX_EXTRAPOLATION`](super::MAX_EXTRAPOLATION)
//! times the measured range (the caller falls back to the roofline). The seconds of an
//! empty call (no tokens, no bytes) are 0.

use super::interp::{AxisPoint, Ends};
use super::{HostCopyDirection, Profile, decode_attention_kv_bytes, prefill_attention_flops};
use crate::Dtype;

/// A decode-attention batch resolved against a profile's tables
/// ([`Profile::decode_attention_batch`]): which table prices it and where the batch
/// falls on it. A simulated instance keeps one per batch size, so each step only
/// locates its context ([`Profile::decode_attention_at`]).
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct DecodeBatch {
    batch: u32,
    kv_heads: u32,
    head_dim: u32,
    kv_dtype: Dtype,
    /// Index of the `(head_dim, kv dtype, group)` table; `None` without one.
    table: Option<usize>,
    /// The batch on that table's grid; `None` outside it.
    x: Option<AxisPoint>,
}

impl Profile {
    /// Seconds of one GEMM of `m` tokens against an `n × k` weight, or `None` when the
    /// profile has no row for `(n, k, dtype)` or `m` lies outside `[min m, 4 × max m]`.
    /// `m = 0` costs nothing.
    pub fn gemm_seconds(&self, m: u64, n: u64, k: u64, dtype: Dtype) -> Option<f64> {
        let i = self
            .index
            .gemm
            .binary_search_by(|(key, _)| key.cmp(&(n, k, dtype)))
            .ok()?;
        if m == 0 {
            return Some(0.0);
        }
        self.index.gemm[i]
            .1
            .eval(m as f64, Ends::NoneBelowLinearAbove)
    }

    /// The `(n, k)` GEMM shapes measured for `dtype`, sorted.
    pub fn gemm_shapes(&self, dtype: Dtype) -> Vec<(u64, u64)> {
        self.index
            .gemm
            .iter()
            .filter(|((_, _, d), _)| *d == dtype)
            .map(|((n, k, _), _)| (*n, *k))
            .collect()
    }

    /// Prefill attention kernels measured (`torch-sdpa`, `xpyd-nvrtc`), sorted.
    pub fn prefill_kernels(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .index
            .prefill
            .iter()
            .map(|((k, _), _)| k.as_str())
            .collect();
        v.dedup();
        v
    }

    /// The kernel [`Self::prefill_attention_seconds`] uses: the fastest measured one
    /// (highest peak achieved TFLOP/s), standing for the best kernel an engine would run.
    pub fn default_prefill_kernel(&self) -> Option<&str> {
        self.default_prefill_kernel.as_deref()
    }

    /// Seconds of one causal prefill attention call with the default kernel; see
    /// [`Self::prefill_attention_seconds_with`].
    pub fn prefill_attention_seconds(
        &self,
        batch: u32,
        new_tokens: u32,
        context: u32,
        heads: u32,
        kv_heads: u32,
        head_dim: u32,
    ) -> Option<f64> {
        let kernel = self.default_prefill_kernel.as_deref()?;
        self.prefill_attention_seconds_with(
            kernel, batch, new_tokens, context, heads, kv_heads, head_dim,
        )
    }

    /// Seconds of one causal prefill attention call measured with `kernel`: the achieved
    /// TFLOP/s is interpolated (log-log) in the call's FLOPs among rows of the same
    /// `head_dim`; below the smallest row's FLOPs its time is a floor; `None` without
    /// rows for `(kernel, head_dim)` or beyond 4× the largest measured FLOPs.
    #[allow(clippy::too_many_arguments)]
    pub fn prefill_attention_seconds_with(
        &self,
        kernel: &str,
        batch: u32,
        new_tokens: u32,
        context: u32,
        heads: u32,
        kv_heads: u32,
        head_dim: u32,
    ) -> Option<f64> {
        let _ = kv_heads; // compute-bound: KV heads change bytes, not FLOPs
        if batch == 0 || new_tokens == 0 || heads == 0 {
            return Some(0.0);
        }
        let i = self
            .index
            .prefill
            .binary_search_by(|((k, d), _)| (k.as_str(), *d).cmp(&(kernel, head_dim)))
            .ok()?;
        let flops = prefill_attention_flops(batch, new_tokens, context, heads, head_dim);
        // Seconds per FLOP, flat above the top (the rate saturates), bounded.
        self.index.prefill[i]
            .1
            .total_with_floor(flops, self.index.prefill_floor[i])
    }

    /// Seconds of one paged decode attention call, from the rows of the same
    /// `head_dim`, `kv_dtype` and GQA group `heads / kv_heads` (the nearest measured
    /// group at or above it, else the largest): bilinear in log space over the measured
    /// (batch × kv_heads, context) grid, the smallest measured value below an axis,
    /// linear above it up to 4×; where the grid has a hole or beyond its 4×, the achieved
    /// GB/s of KV read interpolated (log-log) in the bytes read, beyond the 4× never below
    /// the grid's edge continued linearly in the context (so a longer context never prices
    /// below a shorter one). `None` without rows or without a GB/s curve where the grid
    /// does not reach. Block size does not enter.
    pub fn decode_attention_seconds(
        &self,
        batch: u32,
        context: u32,
        heads: u32,
        kv_heads: u32,
        head_dim: u32,
        kv_dtype: Dtype,
    ) -> Option<f64> {
        self.decode_attention_at(
            &self.decode_attention_batch(batch, heads, kv_heads, head_dim, kv_dtype),
            context,
        )
    }

    /// The table and grid position of a decode batch (the context-independent half of
    /// [`Self::decode_attention_seconds`]).
    pub fn decode_attention_batch(
        &self,
        batch: u32,
        heads: u32,
        kv_heads: u32,
        head_dim: u32,
        kv_dtype: Dtype,
    ) -> DecodeBatch {
        let group = heads / kv_heads.max(1);
        let same = |(d, t, _): &(u32, Dtype, u32)| *d == head_dim && *t == kv_dtype;
        let lo = self
            .index
            .decode
            .partition_point(|(k, _)| (k.0, k.1) < (head_dim, kv_dtype));
        let hi = lo
            + self.index.decode[lo..]
                .iter()
                .take_while(|(k, _)| same(k))
                .count();
        let table = (lo < hi).then(|| {
            // Groups are sorted within [lo, hi): the first at or above `group`, else the last.
            let i = lo + self.index.decode[lo..hi].partition_point(|(k, _)| k.2 < group);
            i.min(hi - 1)
        });
        let seqs = f64::from(batch) * f64::from(kv_heads.max(1));
        DecodeBatch {
            batch,
            kv_heads,
            head_dim,
            kv_dtype,
            table,
            x: table.and_then(|i| self.index.decode_grid[i].x_point(seqs)),
        }
    }

    /// Seconds of one decode attention call of a resolved batch at `context`; exactly
    /// [`Self::decode_attention_seconds`] of the same arguments.
    pub fn decode_attention_at(&self, b: &DecodeBatch, context: u32) -> Option<f64> {
        if b.batch == 0 || context == 0 {
            return Some(0.0);
        }
        let i = b.table?;
        let grid = &self.index.decode_grid[i];
        let ctx = f64::from(context);
        if let Some(s) = b.x.and_then(|xp| grid.eval_at(xp, ctx)) {
            return Some(s);
        }
        // Beyond the grid's reach the time continues linearly from its edge (KV reads
        // grow with the context), so a longer context never prices below a shorter one.
        let edge = b.x.zip(grid.y_reach()).and_then(|(xp, reach)| {
            (ctx > reach)
                .then(|| grid.eval_at(xp, reach).map(|e| e * ctx / reach))
                .flatten()
        });
        let bytes = decode_attention_kv_bytes(b.batch, context, b.kv_heads, b.head_dim, b.kv_dtype);
        // Seconds per byte read.
        let per_byte = self.index.decode[i]
            .1
            .total_with_floor(bytes, self.index.decode_floor[i]);
        per_byte.map(|p| edge.map_or(p, |e| p.max(e)))
    }

    /// Seconds of one absorbed MLA decode attention call ([`MlaDecodeRow`]), from the
    /// rows of the same latent widths and cache format and the nearest measured head
    /// count at or above `heads`: bilinear in log space over the measured (batch,
    /// context) grid, the smallest measured value below an axis, linear above it up to
    /// 4×, and beyond 4× the measured context linear from that edge (the latent cache read
    /// grows with the context, so a longer context never prices below a shorter one).
    /// `None` without such rows, above the largest measured head count, beyond 4× the
    /// measured batch or where the grid has a hole (the caller falls back to the
    /// roofline). Block size does not enter.
    ///
    /// [`MlaDecodeRow`]: super::MlaDecodeRow
    pub fn mla_decode_seconds(
        &self,
        batch: u32,
        context: u32,
        heads: u32,
        kv_lora_rank: u32,
        rope_dim: u32,
        kv_dtype: Dtype,
    ) -> Option<f64> {
        if batch == 0 || context == 0 {
            return Some(0.0);
        }
        let (_, grid) = self
            .index
            .mla_decode
            .iter()
            .filter(|(k, _)| (k.0, k.1, k.2) == (kv_lora_rank, rope_dim, kv_dtype) && k.3 >= heads)
            .min_by_key(|(k, _)| k.3)?;
        let xp = grid.x_point(f64::from(batch))?;
        let ctx = f64::from(context);
        if let Some(s) = grid.eval_at(xp, ctx) {
            return Some(s);
        }
        let reach = grid.y_reach()?;
        (ctx > reach)
            .then(|| grid.eval_at(xp, reach).map(|e| e * ctx / reach))
            .flatten()
    }

    /// Head counts with MLA decode rows for these latent widths and cache format.
    pub fn mla_decode_heads(&self, kv_lora_rank: u32, rope_dim: u32, kv_dtype: Dtype) -> Vec<u32> {
        self.index
            .mla_decode
            .iter()
            .filter(|(k, _)| (k.0, k.1, k.2) == (kv_lora_rank, rope_dim, kv_dtype))
            .map(|(k, _)| k.3)
            .collect()
    }

    /// Seconds of one all-reduce of `bytes` per GPU across `gpus` GPUs: log-log in bytes,
    /// the smallest message's time below the grid, linear above up to 4×; `None` when
    /// `gpus` was not measured. One GPU costs nothing.
    pub fn allreduce_seconds(&self, gpus: u32, bytes: u64) -> Option<f64> {
        if gpus <= 1 || bytes == 0 {
            return Some(0.0);
        }
        let i = self
            .index
            .allreduce
            .binary_search_by(|(g, _)| g.cmp(&gpus))
            .ok()?;
        self.index.allreduce[i]
            .1
            .eval(bytes as f64, Ends::FloorBelowLinearAbove)
    }

    /// GPU counts with all-reduce rows.
    pub fn allreduce_gpus(&self) -> Vec<u32> {
        self.index.allreduce.iter().map(|(g, _)| *g).collect()
    }

    /// Effective GB/s of a GPU-to-GPU copy of `bytes` (bytes / interpolated seconds).
    pub fn p2p_gb_s(&self, bytes: u64) -> Option<f64> {
        if bytes == 0 {
            return None;
        }
        let s = self
            .index
            .p2p
            .eval(bytes as f64, Ends::FloorBelowLinearAbove)?;
        Some(bytes as f64 / s / 1e9)
    }

    /// Seconds of a pinned host copy of `bytes` in `direction`.
    pub fn host_copy_seconds(&self, direction: HostCopyDirection, bytes: u64) -> Option<f64> {
        if bytes == 0 {
            return Some(0.0);
        }
        let i = self
            .index
            .host
            .binary_search_by(|(d, _)| d.cmp(&direction))
            .ok()?;
        self.index.host[i]
            .1
            .eval(bytes as f64, Ends::FloorBelowLinearAbove)
    }

    /// Seconds of memory-bound op `op` (`rmsnorm`, `silu_mul`, `rotary`, `copy`) moving
    /// `bytes` (read + written).
    pub fn memory_bound_seconds(&self, op: &str, bytes: u64) -> Option<f64> {
        if bytes == 0 {
            return Some(0.0);
        }
        let i = self
            .index
            .memory
            .binary_search_by(|(o, _)| o.as_str().cmp(op))
            .ok()?;
        self.index.memory[i]
            .1
            .eval(bytes as f64, Ends::FloorBelowLinearAbove)
    }

    /// Measured device-to-device copy bandwidth, GB/s (read + write bytes).
    pub fn hbm_bandwidth_gb_s(&self) -> Option<f64> {
        self.data.hbm_bandwidth_gb_s
    }

    /// Measured gap between kernels replayed in a CUDA graph, seconds.
    pub fn launch_gap_s(&self) -> Option<f64> {
        self.data.launch_gap_s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::tests::data;
    use crate::profile::{
        DecodeAttentionRow, MlaDecodeRow, PrefillAttentionRow, ProfileData, mla_decode_kv_bytes,
    };

    #[test]
    fn gemm_exact_at_grid_points_and_monotone_between() {
        let p = Profile::new(data(), "test").unwrap();
        for r in &p.data().gemm {
            assert_eq!(
                p.gemm_seconds(r.m, 4096, 4096, Dtype::Bf16),
                Some(r.seconds)
            );
        }
        let mut last = 0.0;
        for m in 1..=4096 {
            let s = p.gemm_seconds(m, 4096, 4096, Dtype::Bf16).unwrap();
            assert!(s >= last, "m={m}: {s} < {last}");
            last = s;
        }
        assert_eq!(p.gemm_seconds(8192, 4096, 4096, Dtype::Bf16), Some(800e-6));
        assert_eq!(p.gemm_seconds(4 * 4096 + 1, 4096, 4096, Dtype::Bf16), None);
        assert_eq!(p.gemm_seconds(16, 4096, 4096, Dtype::Fp8), None);
        assert_eq!(p.gemm_seconds(16, 4096, 1024, Dtype::Bf16), None);
        assert_eq!(p.gemm_seconds(0, 4096, 4096, Dtype::Bf16), Some(0.0));
    }

    fn decode_row(batch: u32, context: u32, seconds: f64) -> DecodeAttentionRow {
        DecodeAttentionRow {
            batch,
            context,
            heads: 32,
            kv_heads: 8,
            head_dim: 128,
            block_size: 16,
            kv_dtype: Dtype::Bf16,
            seconds,
            gb_s: 0.0,
            kernel: "k".into(),
        }
    }

    #[test]
    fn decode_grid_exact_monotone_and_bounded() {
        let mut d = data();
        for (b, c, s) in [
            (1, 128, 10e-6),
            (1, 4096, 20e-6),
            (64, 128, 30e-6),
            (64, 4096, 400e-6),
        ] {
            d.attention_decode.push(decode_row(b, c, s));
        }
        let p = Profile::new(d, "t").unwrap();
        let f = |b, c| p.decode_attention_seconds(b, c, 32, 8, 128, Dtype::Bf16);
        assert_eq!(f(64, 4096), Some(400e-6));
        assert_eq!(f(1, 128), Some(10e-6));
        let mut last = 0.0;
        for c in (128..=4096).step_by(128) {
            let s = f(16, c).unwrap();
            assert!(s >= last && s <= 400e-6, "{c}: {s}");
            last = s;
        }
        // Below the grid: floor; above: linear up to 4x, then None.
        assert_eq!(f(1, 16), Some(10e-6));
        assert_eq!(f(128, 4096), Some(800e-6));
        assert_eq!(f(64, 4 * 4096 + 1), None);
        // Another group or dtype: nothing measured for fp8.
        assert_eq!(
            p.decode_attention_seconds(1, 128, 32, 8, 128, Dtype::Fp8),
            None
        );
        assert_eq!(
            p.decode_attention_seconds(1, 128, 8, 8, 128, Dtype::Bf16),
            Some(10e-6)
        );
    }

    #[test]
    fn prefill_rate_interpolation_is_exact_and_monotone() {
        let mut d = data();
        for (n, s) in [(1024u32, 50e-6), (4096, 500e-6), (16384, 6e-3)] {
            d.attention_prefill.push(PrefillAttentionRow {
                batch: 1,
                new_tokens: n,
                context: 0,
                heads: 32,
                kv_heads: 8,
                head_dim: 128,
                seconds: s,
                tflops: 0.0,
                kernel: "k".into(),
                v_head_dim: None,
            });
        }
        let p = Profile::new(d, "t").unwrap();
        assert_eq!(p.default_prefill_kernel(), Some("k"));
        let f = |n| p.prefill_attention_seconds(1, n, 0, 32, 8, 128).unwrap();
        assert!((f(4096) / 500e-6 - 1.0).abs() < 1e-12);
        let mut last = 0.0;
        for n in (1024..=16384).step_by(256) {
            assert!(f(n) >= last);
            last = f(n);
        }
        assert_eq!(f(16), 50e-6, "launch floor below the grid");
    }

    #[test]
    fn allreduce_floor_and_linear_above() {
        let p = Profile::new(data(), "test").unwrap();
        assert_eq!(p.allreduce_seconds(2, 1024), Some(8e-6));
        assert_eq!(p.allreduce_seconds(2, 16), Some(8e-6));
        assert_eq!(p.allreduce_seconds(2, 2 << 20), Some(40e-6));
        assert_eq!(p.allreduce_seconds(4, 1024), None);
        assert_eq!(p.allreduce_seconds(1, 1024), Some(0.0));
        let mid = p.allreduce_seconds(2, 32 << 10).unwrap();
        assert!(mid > 8e-6 && mid < 20e-6);
    }

    fn mla_row(batch: u32, context: u32, heads: u32, seconds: f64) -> MlaDecodeRow {
        MlaDecodeRow {
            batch,
            context,
            heads,
            kv_lora_rank: 512,
            rope_dim: 64,
            block_size: 16,
            kv_dtype: Dtype::Bf16,
            seconds,
            gb_s: mla_decode_kv_bytes(batch, context, 512, 64, Dtype::Bf16) / seconds / 1e9,
            kernel: "xpyd-nvrtc-mla".into(),
        }
    }

    #[test]
    fn mla_decode_grid_exact_monotone_and_bounded() {
        let t = |h: u32, b: u32, c: u32| {
            let f = if h == 16 { 1.0 } else { 3.0 };
            f * (5e-6 + 1e-10 * f64::from(b) * f64::from(c))
        };
        let mut d = data();
        for h in [16u32, 128] {
            for b in [1u32, 8, 64] {
                for c in [128u32, 1024, 8192] {
                    // A hole in the 16-head grid at its largest corner.
                    if (h, b, c) != (16, 64, 8192) {
                        d.attention_decode_mla.push(mla_row(b, c, h, t(h, b, c)));
                    }
                }
            }
        }
        let p = Profile::new(d, "t").unwrap();
        let look = |b, c, h| p.mla_decode_seconds(b, c, h, 512, 64, Dtype::Bf16);
        assert_eq!(p.mla_decode_heads(512, 64, Dtype::Bf16), vec![16, 128]);
        // Exact at grid points; the nearest measured head count at or above.
        assert_eq!(look(8, 1024, 16), Some(t(16, 8, 1024)));
        assert_eq!(look(8, 1024, 12), Some(t(16, 8, 1024)));
        assert_eq!(look(8, 1024, 32), Some(t(128, 8, 1024)));
        assert_eq!(look(64, 8192, 128), Some(t(128, 64, 8192)));
        assert_eq!(look(8, 1024, 256), None);
        // Monotone between grid points, within the bracketing values.
        let mut last = look(8, 1024, 16).unwrap();
        for c in (1024..=8192).step_by(512) {
            let v = look(8, c, 16).unwrap();
            assert!(v >= last && v <= t(16, 8, 8192), "{c}: {v}");
            last = v;
        }
        let mid = look(3, 300, 16).unwrap();
        assert!(mid > t(16, 1, 128) && mid < t(16, 8, 1024));
        // Below the grid: the smallest value; above: linear up to 4x; beyond 4x the
        // context, linear from that edge (never cheaper than a shorter context); beyond
        // 4x the batch, None.
        assert_eq!(look(1, 16, 16), Some(t(16, 1, 128)));
        assert_eq!(look(8, 16384, 128), Some(2.0 * t(128, 8, 8192)));
        let edge = look(8, 4 * 8192, 128).unwrap();
        assert_eq!(edge, 4.0 * t(128, 8, 8192));
        let beyond = look(8, 8 * 8192, 128).unwrap();
        assert!((beyond / edge - 2.0).abs() < 1e-12, "{beyond} vs {edge}");
        assert!(look(8, 4 * 8192 + 1, 128).unwrap() > edge);
        assert_eq!(look(4 * 64 + 1, 1024, 128), None);
        // The hole, and cells that need it, are not guessed.
        assert_eq!(look(64, 8192, 16), None);
        assert_eq!(look(32, 4096, 16), None);
        assert!(look(32, 4096, 128).is_some());
        // Other widths or cache formats are not measured.
        assert_eq!(p.mla_decode_seconds(8, 1024, 16, 512, 64, Dtype::Fp8), None);
        assert_eq!(
            p.mla_decode_seconds(8, 1024, 16, 256, 64, Dtype::Bf16),
            None
        );
        assert_eq!(look(0, 1024, 16), Some(0.0));
        // Round trip through JSON; a bad row is rejected with its field.
        let back = Profile::from_json_str(&p.to_json_pretty(), "t").unwrap();
        let key = |d: &ProfileData| -> Vec<(u32, u32, u32, f64)> {
            d.attention_decode_mla
                .iter()
                .map(|r| (r.batch, r.context, r.heads, r.seconds))
                .collect()
        };
        assert_eq!(key(back.data()), key(p.data()));
        let mut bad = p.data().clone();
        bad.attention_decode_mla[2].seconds = 0.0;
        let e = Profile::new(bad, "t").unwrap_err().to_string();
        assert!(e.contains("attention_decode_mla[2].seconds"), "{e}");
    }
}
