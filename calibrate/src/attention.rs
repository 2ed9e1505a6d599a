//! Attention kernels of our own (NVRTC, see `kernels.cu`): tiled causal flash attention
//! for prefill on the mma.sync tensor cores, and split-K paged decode attention. Each is
//! checked against an f64 host reference on fresh random inputs before it is timed.
//!
//! Invariants: head_dim is 128; the prefill cache is bf16; the decode caches (GQA K/V,
//! MLA latent) are bf16 or fp8 e4m3 with one fp32 scale per tensor ([`FP8_K_SCALE`],
//! [`FP8_V_SCALE`], [`FP8_MLA_SCALE`]), fp8 only on the tensor-core kernels, whose f64
//! reference reads the same fp8 values dequantised (value x scale), so the check measures
//! the kernel's arithmetic, not the quantisation; decode needs `heads / kv_heads` <= 16
//! (tensor-core kernel, the default) or in {1, 2, 4, 8} (the CUDA-core kernel kept for
//! comparison); a kernel whose check fails is still timed but its rows are labelled
//! `...-unchecked` and the failure is noted.

use crate::device::{Arg, DevBuf, Gpu, bf16_to_f32, e4m3_to_f64};
use crate::error::CalError;
use xpyd_models::Dtype;

/// Per-tensor scale of the fp8 K cache (not a power of two, so the check sees it applied).
pub(crate) const FP8_K_SCALE: f32 = 0.75;
/// Per-tensor scale of the fp8 V cache.
pub(crate) const FP8_V_SCALE: f32 = 1.25;
/// Per-tensor scale of the fp8 MLA latent cache (scores and values alike).
pub(crate) const FP8_MLA_SCALE: f32 = 0.75;

/// A device cache read back as f64: bf16 values, or fp8 e4m3 values times `scale`.
fn cache_f64(gpu: &Gpu, buf: &DevBuf, kv: Dtype, scale: f32) -> Result<Vec<f64>, CalError> {
    Ok(match kv {
        Dtype::Bf16 => {
            let mut h = vec![0u16; buf.bytes / 2];
            gpu.dtoh(&mut h, buf)?;
            h.iter().map(|&x| f64::from(bf16_to_f32(x))).collect()
        }
        Dtype::Fp8 => {
            let mut h = vec![0u8; buf.bytes];
            gpu.dtoh(&mut h, buf)?;
            let s = f64::from(scale);
            h.iter().map(|&x| e4m3_to_f64(x) * s).collect()
        }
    })
}

/// Head dimension the kernels are built for.
pub(crate) const HEAD_DIM: u32 = 128;
const LOG2E: f32 = std::f32::consts::LOG2_E;

fn scale_log2() -> f32 {
    LOG2E / (HEAD_DIM as f32).sqrt()
}

/// Device buffers of one prefill problem.
pub(crate) struct Prefill {
    pub(crate) batch: u32,
    pub(crate) q_len: u32,
    pub(crate) kv_len: u32,
    pub(crate) heads: u32,
    pub(crate) kv_heads: u32,
    q: DevBuf,
    k: DevBuf,
    v: DevBuf,
    o: DevBuf,
}

impl Prefill {
    pub(crate) fn new(
        gpu: &Gpu,
        batch: u32,
        q_len: u32,
        context: u32,
        heads: u32,
        kv_heads: u32,
        seed: u32,
    ) -> Result<Prefill, CalError> {
        let kv_len = q_len + context;
        let hd = HEAD_DIM as usize;
        let qb = batch as usize * q_len as usize * heads as usize * hd * 2;
        let kb = batch as usize * kv_len as usize * kv_heads as usize * hd * 2;
        let p = Prefill {
            batch,
            q_len,
            kv_len,
            heads,
            kv_heads,
            q: gpu.alloc(qb)?,
            k: gpu.alloc(kb)?,
            v: gpu.alloc(kb)?,
            o: gpu.alloc(qb)?,
        };
        gpu.fill_bf16(&p.q, seed, 1.0)?;
        gpu.fill_bf16(&p.k, seed.wrapping_add(1), 1.0)?;
        gpu.fill_bf16(&p.v, seed.wrapping_add(2), 1.0)?;
        Ok(p)
    }

    pub(crate) fn launch(&self, gpu: &Gpu) -> Result<(), CalError> {
        gpu.launch(
            "flash_prefill_hd128",
            (self.q_len.div_ceil(64), self.heads, self.batch),
            (128, 1, 1),
            0,
            &[
                Arg::Ptr(self.q.ptr),
                Arg::Ptr(self.k.ptr),
                Arg::Ptr(self.v.ptr),
                Arg::Ptr(self.o.ptr),
                Arg::I32(self.q_len as i32),
                Arg::I32(self.kv_len as i32),
                Arg::I32(self.heads as i32),
                Arg::I32(self.kv_heads as i32),
                Arg::F32(scale_log2()),
            ],
        )
    }

    /// Relative L2 error of the kernel's output against an f64 reference.
    pub(crate) fn check(&self, gpu: &Gpu) -> Result<f64, CalError> {
        let hd = HEAD_DIM as usize;
        let (b, ql, kl, h, kh) = (
            self.batch as usize,
            self.q_len as usize,
            self.kv_len as usize,
            self.heads as usize,
            self.kv_heads as usize,
        );
        // Poison the output so unwritten elements show.
        gpu.launch(
            "fill_bf16",
            (64, 1, 1),
            (256, 1, 1),
            0,
            &[
                Arg::Ptr(self.o.ptr),
                Arg::U64((self.o.bytes / 2) as u64),
                Arg::U32(99),
                Arg::F32(1e30),
            ],
        )?;
        self.launch(gpu)?;
        let mut q = vec![0u16; b * ql * h * hd];
        let mut k = vec![0u16; b * kl * kh * hd];
        let mut v = vec![0u16; b * kl * kh * hd];
        let mut o = vec![0u16; b * ql * h * hd];
        gpu.dtoh(&mut q, &self.q)?;
        gpu.dtoh(&mut k, &self.k)?;
        gpu.dtoh(&mut v, &self.v)?;
        gpu.dtoh(&mut o, &self.o)?;
        let f = |x: u16| f64::from(bf16_to_f32(x));
        let scale = 1.0 / (hd as f64).sqrt();
        let (mut num, mut den) = (0.0f64, 0.0f64);
        let offset = kl - ql;
        for bi in 0..b {
            for hi in 0..h {
                let khi = hi / (h / kh);
                for i in 0..ql {
                    let qrow = &q[((bi * ql + i) * h + hi) * hd..][..hd];
                    let n = offset + i + 1;
                    let mut s: Vec<f64> = (0..n)
                        .map(|j| {
                            let krow = &k[((bi * kl + j) * kh + khi) * hd..][..hd];
                            qrow.iter()
                                .zip(krow)
                                .map(|(a, c)| f(*a) * f(*c))
                                .sum::<f64>()
                                * scale
                        })
                        .collect();
                    let mx = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let mut l = 0.0;
                    for x in s.iter_mut() {
                        *x = (*x - mx).exp();
                        l += *x;
                    }
                    for d in 0..hd {
                        let r: f64 = (0..n)
                            .map(|j| s[j] * f(v[((bi * kl + j) * kh + khi) * hd + d]))
                            .sum::<f64>()
                            / l;
                        let got = f(o[((bi * ql + i) * h + hi) * hd + d]);
                        num += (got - r) * (got - r);
                        den += r * r;
                    }
                }
            }
        }
        Ok(if den > 0.0 {
            (num / den).sqrt()
        } else {
            f64::INFINITY
        })
    }
}

/// Device buffers of one paged decode problem.
pub(crate) struct Decode {
    pub(crate) batch: u32,
    pub(crate) heads: u32,
    pub(crate) kv_heads: u32,
    pub(crate) block_size: u32,
    /// Tensor-core kernel (`paged_decode_mma`) rather than the CUDA-core one.
    pub(crate) mma: bool,
    /// KV cache format: bf16, or fp8 e4m3 (`paged_decode_mma_fp8`).
    pub(crate) kv: Dtype,
    lens: Vec<u32>,
    max_blocks: u32,
    splits: u32,
    part_tokens: u32,
    q: DevBuf,
    kc: DevBuf,
    vc: DevBuf,
    table: DevBuf,
    lens_d: DevBuf,
    part_o: DevBuf,
    part_ml: DevBuf,
    out: DevBuf,
    table_h: Vec<i32>,
}

impl Decode {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        gpu: &Gpu,
        lens: Vec<u32>,
        heads: u32,
        kv_heads: u32,
        block_size: u32,
        seed: u32,
        mma: bool,
        kv: Dtype,
    ) -> Result<Decode, CalError> {
        if kv == Dtype::Fp8 && !mma {
            return Err(CalError::Input(
                "the fp8 KV cache has a tensor-core decode kernel only".into(),
            ));
        }
        let g = heads / kv_heads.max(1);
        let ok = if mma {
            (1..=16).contains(&g)
        } else {
            matches!(g, 1 | 2 | 4 | 8)
        };
        if !ok || !heads.is_multiple_of(kv_heads) {
            return Err(CalError::Input(format!(
                "decode kernel cannot serve {heads} query heads over {kv_heads} KV heads"
            )));
        }
        let batch = lens.len() as u32;
        let max_len = lens.iter().copied().max().unwrap_or(1).max(1);
        let max_blocks = max_len.div_ceil(block_size);
        let total_blocks: u32 = lens.iter().map(|l| l.div_ceil(block_size).max(1)).sum();
        // Scatter the blocks: a deterministic shuffle of all block ids.
        let mut ids: Vec<i32> = (0..total_blocks as i32).collect();
        let mut x = u64::from(seed) | 1;
        for i in (1..ids.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ids.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let mut table_h = vec![0i32; (batch * max_blocks) as usize];
        let mut next = 0usize;
        for (bi, l) in lens.iter().enumerate() {
            for j in 0..l.div_ceil(block_size).max(1) {
                table_h[bi * max_blocks as usize + j as usize] = ids[next];
                next += 1;
            }
        }
        // Enough blocks in flight: about two per SM.
        let want = (2 * gpu.sm_count) as u64;
        let work = u64::from(batch) * u64::from(kv_heads) * u64::from(max_len);
        // At least 128 tokens per split, and at most 1024 splits (decode_reduce's limit).
        let min_part = u64::from(max_len).div_ceil(1024).max(128);
        // At most 1024 tokens per split (2048 for the fp8 kernel, whose tokens are half
        // the bytes: its blocks' Q load and merge stay as small a share; on an H100,
        // 2026-12-07, its calls of 256 sequences ran 1-15% faster than with 1024, of
        // 32 x 2048 at 8 heads 16% faster, of 32 x 32768 at one KV head 14% slower).
        let max_part: u64 = if kv == Dtype::Fp8 { 2048 } else { 1024 };
        let part_tokens = (work / want)
            .clamp(min_part, min_part.max(max_part))
            .div_ceil(64) as u32
            * 64;
        let splits = max_len.div_ceil(part_tokens);
        let hd = HEAD_DIM as usize;
        let cache_bytes = total_blocks as usize
            * block_size as usize
            * kv_heads as usize
            * hd
            * kv.bytes() as usize;
        let d = Decode {
            batch,
            heads,
            kv_heads,
            block_size,
            mma,
            kv,
            max_blocks,
            splits,
            part_tokens,
            q: gpu.alloc(batch as usize * heads as usize * hd * 2)?,
            kc: gpu.alloc(cache_bytes)?,
            vc: gpu.alloc(cache_bytes)?,
            table: gpu.alloc(table_h.len() * 4)?,
            lens_d: gpu.alloc(lens.len() * 4)?,
            part_o: gpu.alloc((batch * heads * splits) as usize * hd * 4)?,
            part_ml: gpu.alloc((batch * heads * splits) as usize * 2 * 4)?,
            out: gpu.alloc(batch as usize * heads as usize * hd * 2)?,
            lens,
            table_h,
        };
        gpu.fill_bf16(&d.q, seed, 1.0)?;
        match kv {
            Dtype::Bf16 => {
                gpu.fill_bf16(&d.kc, seed.wrapping_add(1), 1.0)?;
                gpu.fill_bf16(&d.vc, seed.wrapping_add(2), 1.0)?;
            }
            Dtype::Fp8 => {
                gpu.fill_e4m3(&d.kc, seed.wrapping_add(1))?;
                gpu.fill_e4m3(&d.vc, seed.wrapping_add(2))?;
            }
        }
        gpu.htod(&d.table, &d.table_h)?;
        let lens_i: Vec<i32> = d.lens.iter().map(|&l| l as i32).collect();
        gpu.htod(&d.lens_d, &lens_i)?;
        Ok(d)
    }

    pub(crate) fn launch(&self, gpu: &Gpu) -> Result<(), CalError> {
        let g = self.heads / self.kv_heads;
        if self.mma && self.kv == Dtype::Fp8 {
            gpu.launch(
                "paged_decode_mma_fp8",
                (self.kv_heads, self.batch, self.splits),
                (128, 1, 1),
                0,
                &[
                    Arg::Ptr(self.q.ptr),
                    Arg::Ptr(self.kc.ptr),
                    Arg::Ptr(self.vc.ptr),
                    Arg::Ptr(self.table.ptr),
                    Arg::Ptr(self.lens_d.ptr),
                    Arg::Ptr(self.part_o.ptr),
                    Arg::Ptr(self.part_ml.ptr),
                    Arg::I32(self.kv_heads as i32),
                    Arg::I32(g as i32),
                    Arg::I32(self.max_blocks as i32),
                    Arg::I32(self.block_size as i32),
                    Arg::I32(self.splits as i32),
                    Arg::I32(self.part_tokens as i32),
                    Arg::F32(scale_log2() * FP8_K_SCALE),
                    Arg::F32(FP8_V_SCALE),
                ],
            )?;
            return self.reduce(gpu);
        }
        if self.mma {
            gpu.launch(
                "paged_decode_mma",
                (self.kv_heads, self.batch, self.splits),
                (128, 1, 1),
                0,
                &[
                    Arg::Ptr(self.q.ptr),
                    Arg::Ptr(self.kc.ptr),
                    Arg::Ptr(self.vc.ptr),
                    Arg::Ptr(self.table.ptr),
                    Arg::Ptr(self.lens_d.ptr),
                    Arg::Ptr(self.part_o.ptr),
                    Arg::Ptr(self.part_ml.ptr),
                    Arg::I32(self.kv_heads as i32),
                    Arg::I32(g as i32),
                    Arg::I32(self.max_blocks as i32),
                    Arg::I32(self.block_size as i32),
                    Arg::I32(self.splits as i32),
                    Arg::I32(self.part_tokens as i32),
                    Arg::F32(scale_log2()),
                ],
            )?;
            return self.reduce(gpu);
        }
        let name = match g {
            1 => "paged_decode_g1",
            2 => "paged_decode_g2",
            4 => "paged_decode_g4",
            _ => "paged_decode_g8",
        };
        gpu.launch(
            name,
            (self.kv_heads, self.batch, self.splits),
            (128, 1, 1),
            0,
            &[
                Arg::Ptr(self.q.ptr),
                Arg::Ptr(self.kc.ptr),
                Arg::Ptr(self.vc.ptr),
                Arg::Ptr(self.table.ptr),
                Arg::Ptr(self.lens_d.ptr),
                Arg::Ptr(self.part_o.ptr),
                Arg::Ptr(self.part_ml.ptr),
                Arg::I32(self.kv_heads as i32),
                Arg::I32(self.max_blocks as i32),
                Arg::I32(self.block_size as i32),
                Arg::I32(self.splits as i32),
                Arg::I32(self.part_tokens as i32),
                Arg::F32(scale_log2()),
            ],
        )?;
        self.reduce(gpu)
    }

    fn reduce(&self, gpu: &Gpu) -> Result<(), CalError> {
        gpu.launch(
            "decode_reduce",
            (self.heads, self.batch, 1),
            (128, 1, 1),
            0,
            &[
                Arg::Ptr(self.part_o.ptr),
                Arg::Ptr(self.part_ml.ptr),
                Arg::Ptr(self.out.ptr),
                Arg::I32(self.heads as i32),
                Arg::I32(self.splits as i32),
            ],
        )
    }

    /// Relative L2 error against an f64 reference.
    pub(crate) fn check(&self, gpu: &Gpu) -> Result<f64, CalError> {
        gpu.launch(
            "fill_bf16",
            (64, 1, 1),
            (256, 1, 1),
            0,
            &[
                Arg::Ptr(self.out.ptr),
                Arg::U64((self.out.bytes / 2) as u64),
                Arg::U32(7),
                Arg::F32(1e30),
            ],
        )?;
        self.launch(gpu)?;
        let hd = HEAD_DIM as usize;
        let (h, kh, bs) = (
            self.heads as usize,
            self.kv_heads as usize,
            self.block_size as usize,
        );
        let mut q = vec![0u16; self.q.bytes / 2];
        let mut o = vec![0u16; self.out.bytes / 2];
        gpu.dtoh(&mut q, &self.q)?;
        gpu.dtoh(&mut o, &self.out)?;
        let kc = cache_f64(gpu, &self.kc, self.kv, FP8_K_SCALE)?;
        let vc = cache_f64(gpu, &self.vc, self.kv, FP8_V_SCALE)?;
        let f = |x: u16| f64::from(bf16_to_f32(x));
        let scale = 1.0 / (hd as f64).sqrt();
        let (mut num, mut den) = (0.0f64, 0.0f64);
        for (bi, &len) in self.lens.iter().enumerate() {
            let len = len as usize;
            let addr = |t: usize, khi: usize| {
                let blk = self.table_h[bi * self.max_blocks as usize + t / bs] as usize;
                ((blk * bs + t % bs) * kh + khi) * hd
            };
            for hi in 0..h {
                let khi = hi / (h / kh);
                let qrow = &q[(bi * h + hi) * hd..][..hd];
                let mut s: Vec<f64> = (0..len)
                    .map(|t| {
                        let a = addr(t, khi);
                        qrow.iter()
                            .zip(&kc[a..a + hd])
                            .map(|(x, y)| f(*x) * y)
                            .sum::<f64>()
                            * scale
                    })
                    .collect();
                let mx = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let mut l = 0.0;
                for x in s.iter_mut() {
                    *x = (*x - mx).exp();
                    l += *x;
                }
                for d in 0..hd {
                    let r: f64 = (0..len).map(|t| s[t] * vc[addr(t, khi) + d]).sum::<f64>() / l;
                    let got = f(o[(bi * h + hi) * hd + d]);
                    num += (got - r) * (got - r);
                    den += r * r;
                }
            }
        }
        Ok(if den > 0.0 {
            (num / den).sqrt()
        } else {
            f64::INFINITY
        })
    }
}

/// Latent width of an MLA cache row that is also the value (DeepSeek-V2/V3).
pub(crate) const MLA_KV_LORA: u32 = 512;
/// Decoupled rotary width of an MLA cache row.
pub(crate) const MLA_ROPE: u32 = 64;
const MLA_D: usize = (MLA_KV_LORA + MLA_ROPE) as usize;
const MLA_DV: usize = MLA_KV_LORA as usize;
/// Heads one `mla_decode` block serves (the kernel's `MLA_HB`).
const MLA_HB: u32 = 32;

/// DeepSeek-V3's softmax scale in base 2: log2(e) / sqrt(qk_nope + qk_rope = 192).
fn mla_scale_log2() -> f32 {
    LOG2E / 192f32.sqrt()
}

/// Device buffers of one absorbed MLA decode problem (`mla_decode` in `kernels.cu`):
/// paged latent cache `[blocks, block_size, 576]`, Q `[batch, heads, 576]`, output
/// `[batch, heads, 512]`.
pub(crate) struct MlaDecode {
    pub(crate) heads: u32,
    pub(crate) block_size: u32,
    pub(crate) splits: u32,
    /// Latent cache format: bf16, or fp8 e4m3 (`mla_decode_fp8`).
    pub(crate) kv: Dtype,
    batch: u32,
    lens: Vec<u32>,
    max_blocks: u32,
    part_tokens: u32,
    q: DevBuf,
    cache: DevBuf,
    table: DevBuf,
    lens_d: DevBuf,
    part_o: DevBuf,
    part_ml: DevBuf,
    out: DevBuf,
    table_h: Vec<i32>,
}

impl MlaDecode {
    /// `heads` must be 16 or a multiple of 32 (the kernel's head tiles).
    pub(crate) fn new(
        gpu: &Gpu,
        lens: Vec<u32>,
        heads: u32,
        block_size: u32,
        seed: u32,
        kv: Dtype,
    ) -> Result<MlaDecode, CalError> {
        if heads == 0 || !(heads == 16 || heads.is_multiple_of(MLA_HB)) {
            return Err(CalError::Input(format!(
                "MLA decode kernel serves 16 or a multiple of 32 heads, not {heads}"
            )));
        }
        let batch = lens.len() as u32;
        let max_len = lens.iter().copied().max().unwrap_or(1).max(1);
        let max_blocks = max_len.div_ceil(block_size);
        let total_blocks: u32 = lens.iter().map(|l| l.div_ceil(block_size).max(1)).sum();
        let mut ids: Vec<i32> = (0..total_blocks as i32).collect();
        let mut x = u64::from(seed) | 1;
        for i in (1..ids.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ids.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let mut table_h = vec![0i32; (batch * max_blocks) as usize];
        let mut next = 0usize;
        for (bi, l) in lens.iter().enumerate() {
            for j in 0..l.div_ceil(block_size).max(1) {
                table_h[bi * max_blocks as usize + j as usize] = ids[next];
                next += 1;
            }
        }
        // Split the context only as far as needed to fill the GPU (FlashMLA's rule of
        // thumb): each split writes heads × 512 f32 partials, which at 128 heads cost as
        // much as ~1800 cached rows. Blocks per SM: 2 at 32+ heads, 4 at 16.
        let head_blocks = heads.div_ceil(MLA_HB);
        let per_sm = if heads >= MLA_HB { 2 } else { 4 };
        let want = per_sm * gpu.sm_count;
        let splits = want
            .div_ceil(batch.max(1) * head_blocks)
            .clamp(1, max_len.div_ceil(64).clamp(1, 1024));
        let part_tokens = max_len.div_ceil(splits).div_ceil(16) * 16;
        let splits = max_len.div_ceil(part_tokens);
        let cache_bytes = total_blocks as usize * block_size as usize * MLA_D * kv.bytes() as usize;
        let bh = batch as usize * heads as usize;
        let d = MlaDecode {
            heads,
            block_size,
            splits,
            kv,
            batch,
            max_blocks,
            part_tokens,
            q: gpu.alloc(bh * MLA_D * 2)?,
            cache: gpu.alloc(cache_bytes)?,
            table: gpu.alloc(table_h.len() * 4)?,
            lens_d: gpu.alloc(lens.len() * 4)?,
            part_o: gpu.alloc(bh * splits as usize * MLA_DV * 4)?,
            part_ml: gpu.alloc(bh * splits as usize * 2 * 4)?,
            out: gpu.alloc(bh * MLA_DV * 2)?,
            lens,
            table_h,
        };
        gpu.fill_bf16(&d.q, seed, 1.0)?;
        match kv {
            Dtype::Bf16 => gpu.fill_bf16(&d.cache, seed.wrapping_add(1), 1.0)?,
            Dtype::Fp8 => gpu.fill_e4m3(&d.cache, seed.wrapping_add(1))?,
        }
        gpu.htod(&d.table, &d.table_h)?;
        let lens_i: Vec<i32> = d.lens.iter().map(|&l| l as i32).collect();
        gpu.htod(&d.lens_d, &lens_i)?;
        Ok(d)
    }

    pub(crate) fn launch(&self, gpu: &Gpu) -> Result<(), CalError> {
        let hb = self.heads.min(MLA_HB);
        let mut args = vec![
            Arg::Ptr(self.q.ptr),
            Arg::Ptr(self.cache.ptr),
            Arg::Ptr(self.table.ptr),
            Arg::Ptr(self.lens_d.ptr),
            Arg::Ptr(self.part_o.ptr),
            Arg::Ptr(self.part_ml.ptr),
            Arg::Ptr(self.out.ptr),
            Arg::I32(self.heads as i32),
            Arg::I32(self.max_blocks as i32),
            Arg::I32(self.block_size as i32),
            Arg::I32(self.splits as i32),
            Arg::I32(self.part_tokens as i32),
        ];
        let name = match self.kv {
            Dtype::Bf16 => {
                args.push(Arg::F32(mla_scale_log2()));
                "mla_decode"
            }
            Dtype::Fp8 => {
                args.push(Arg::F32(mla_scale_log2() * FP8_MLA_SCALE));
                args.push(Arg::F32(FP8_MLA_SCALE));
                "mla_decode_fp8"
            }
        };
        gpu.launch(
            name,
            (self.heads / hb, self.splits, self.batch),
            (hb / 16 * 128, 1, 1),
            0,
            &args,
        )?;
        if self.splits == 1 {
            return Ok(());
        }
        gpu.launch(
            "mla_decode_reduce",
            (self.heads, self.batch, 1),
            (128, 1, 1),
            0,
            &[
                Arg::Ptr(self.part_o.ptr),
                Arg::Ptr(self.part_ml.ptr),
                Arg::Ptr(self.out.ptr),
                Arg::I32(self.heads as i32),
                Arg::I32(self.splits as i32),
            ],
        )
    }

    /// Relative L2 error of the output against an f64 host reference (scores over all
    /// 576 values, output over the first 512 of each row).
    pub(crate) fn check(&self, gpu: &Gpu) -> Result<f64, CalError> {
        gpu.launch(
            "fill_bf16",
            (64, 1, 1),
            (256, 1, 1),
            0,
            &[
                Arg::Ptr(self.out.ptr),
                Arg::U64((self.out.bytes / 2) as u64),
                Arg::U32(5),
                Arg::F32(1e30),
            ],
        )?;
        self.launch(gpu)?;
        let (h, bs) = (self.heads as usize, self.block_size as usize);
        let mut q = vec![0u16; self.q.bytes / 2];
        let mut o = vec![0u16; self.out.bytes / 2];
        gpu.dtoh(&mut q, &self.q)?;
        gpu.dtoh(&mut o, &self.out)?;
        let kc = cache_f64(gpu, &self.cache, self.kv, FP8_MLA_SCALE)?;
        let f = |x: u16| f64::from(bf16_to_f32(x));
        let scale = 1.0 / 192f64.sqrt();
        let (mut num, mut den) = (0.0f64, 0.0f64);
        for (bi, &len) in self.lens.iter().enumerate() {
            let len = len as usize;
            let row = |t: usize| {
                let blk = self.table_h[bi * self.max_blocks as usize + t / bs] as usize;
                &kc[(blk * bs + t % bs) * MLA_D..][..MLA_D]
            };
            for hi in 0..h {
                let qrow: Vec<f64> = q[(bi * h + hi) * MLA_D..][..MLA_D]
                    .iter()
                    .map(|&x| f(x))
                    .collect();
                let mut s: Vec<f64> = (0..len)
                    .map(|t| qrow.iter().zip(row(t)).map(|(a, b)| a * b).sum::<f64>() * scale)
                    .collect();
                let mx = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let mut l = 0.0;
                for x in s.iter_mut() {
                    *x = (*x - mx).exp();
                    l += *x;
                }
                let mut acc = vec![0.0f64; MLA_DV];
                for (t, p) in s.iter().enumerate() {
                    for (a, v) in acc.iter_mut().zip(row(t)) {
                        *a += p * v;
                    }
                }
                for (d, a) in acc.iter().enumerate() {
                    let r = a / l;
                    let got = f(o[(bi * h + hi) * MLA_DV + d]);
                    num += (got - r) * (got - r);
                    den += r * r;
                }
            }
        }
        Ok(if den > 0.0 {
            (num / den).sqrt()
        } else {
            f64::INFINITY
        })
    }
}
