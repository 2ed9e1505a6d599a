#!/usr/bin/env python3
"""Time the routed experts of one MoE layer with a fused-MoE style Triton grouped GEMM,
the kernel family SGLang and vLLM run on Hopper, and write JSON in the format of
`moe_bench.py` for `xpyd-calibrate merge-moe`.

Why a second kernel: the CUTLASS grouped GEMMs behind `torch._grouped_mm` /
`torch._scaled_grouped_mm` (`moe_bench.py`) read the touched experts' weights far below
HBM bandwidth at decode batch sizes (DeepSeek-V3 at TP 8, fp8, 256 tokens: 0.84 ms for
1.4 GB of weights, 1.7 TB/s on an H200). Engines do not run those: SGLang and vLLM run a
Triton kernel over tokens sorted by expert, with a block configuration tuned per batch
size. This script measures our own kernel of that design, written here from the
published description of the technique (no engine code), over a small set of block
configurations per token count, and keeps the fastest, as an engine's tuning table does.

The kernel (`moe_gemm`): the routed (token, expert) pairs are sorted by expert and each
expert's run padded to a multiple of BLOCK_M (padding slots hold an out-of-range id, so
they are masked); one program computes a BLOCK_M x BLOCK_N tile of one expert's output,
reading its A rows by gathered index (gate/up: the token's hidden state, row pair // k,
not duplicated; down: the pair's intermediate row) and streaming the expert's weight
tile over K. bf16: bf16 x bf16 -> fp32. fp8: e4m3 x e4m3 with DeepSeek-V3's block
scales (one fp32 scale per 1 x 128 group of A, one per 128 x 128 block of W), applied to
each 128-wide K step's partial product. mxfp4 (gpt-oss's experts): bf16 activations x
OCP MXFP4 weights (e2m1 pairs packed in bytes, one e8m0 scale per 32 K-elements),
dequantised to bf16 in registers and multiplied on the bf16 tensor cores, as
TensorRT-LLM's default Hopper MoE backend for gpt-oss (TRITON: "BF16 activation, MXFP4
weights") and vLLM's Triton MXFP4 path run it (Hopper has no FP4 tensor cores). Each
128-wide K block is stored as 64 bytes whose low nibbles hold its first 64 elements and
high nibbles the next 64, so the two halves dequantise without interleaving. The grid is as engines size it (every program
past the padded pairs exits at once). The sort and padding (`moe_align_block_size`),
SiLU-and-mul, activation quantisation and the top-k reduction are separate memory-bound
kernels, outside these rows as in `moe_bench.py`.

Timing: `moe_bench.py`'s `Timer` (256 MiB zeroed before each sample so weights come from HBM,
a GPU-side sleep hides dispatch, CUDA events, 2 warm-ups, median of --reps). Every
configuration is checked against a per-expert float32 reference on the same inputs
(the fp8 reference dequantises the same bytes) before it is timed; one that fails the
check or does not compile is left out, and the checks go into the output.

Usage: python3 moe_triton_bench.py OUT.json [--reps 5] [--models ...] [--tp 1,2,4,8]
       [--order model:tp,...] [--max-tokens 16384] [--deadline-s 300]
"""
import argparse
import json
import os
import time

import torch
import triton
import triton.language as tl

from moe_bench import Timer

# models/src/arch (from each model's Hugging Face config.json): hidden, routed experts,
# top-k, expert intermediate size (as in moe_bench.py).
MODELS = {
    "qwen3-235b-a22b": (4096, 128, 8, 1536),
    "deepseek-v3": (7168, 256, 8, 2048),
    "gpt-oss-120b": (2880, 128, 4, 2880),
}
# Expert weight formats measured per model (the checkpoints' own; default bf16 and fp8).
DTYPES = {"gpt-oss-120b": ("mxfp4",)}
BF16 = torch.bfloat16
FP8 = torch.float8_e4m3fn
GROUP = 128  # DeepSeek-V3's fp8 block size (quantization_config.weight_block_size)
MX = 32  # MXFP4 elements per e8m0 scale (OCP Microscaling spec)
MX_BLOCK_K = 128  # the K block of the mxfp4 packing (BLOCK_K of every mxfp4 config)
# The 16 e2m1 codes (sign, 2 exponent bits, 1 mantissa bit), for the reference.
E2M1 = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0]
FMT = {"bf16": 0, "fp8": 1, "mxfp4": 2}
INTERPRET = bool(os.environ.get("TRITON_INTERPRET"))

# (BLOCK_M, BLOCK_N, BLOCK_K, GROUP_M, num_warps, num_stages): small-M tiles for decode
# (narrow N tiles put more programs on the SMs when few experts are touched), large for
# prefill, as engines' tuning tables span them.
CONFIGS = [
    (16, 32, 128, 1, 4, 4),
    (16, 32, 128, 1, 2, 6),
    (16, 64, 128, 1, 4, 6),
    (32, 32, 128, 1, 4, 4),
    (16, 128, 128, 1, 4, 3),
    (16, 128, 128, 1, 4, 5),
    (16, 256, 128, 1, 8, 3),
    (32, 64, 128, 1, 4, 4),
    (32, 128, 128, 8, 4, 3),
    (64, 64, 128, 8, 4, 4),
    (64, 128, 128, 8, 4, 3),
    (64, 128, 128, 16, 8, 4),
    (128, 128, 128, 8, 8, 3),
    (128, 256, 128, 8, 8, 3),
    (128, 128, 64, 16, 8, 4),
]


def log(*a):
    print(*a, flush=True)


@triton.jit
def e2m1_bf16(nib):
    """e2m1 codes (uint8, 0..15) -> bf16 by building the bf16 bits: sign, exponent
    e + 126 and the mantissa bit for normal codes (e > 0), 0.5 for code 1, zero for 0."""
    x = nib.to(tl.uint16)
    em = x & 7
    mag = tl.where(em >= 2, (((em >> 1) + 126) << 7) | ((em & 1) << 6),
                   tl.where(em == 1, 126 << 7, 0))
    return (mag | ((x & 8) << 12)).to(tl.uint16).to(tl.bfloat16, bitcast=True)


@triton.jit
def mma_in(x, F32: tl.constexpr):
    """An operand as the tensor cores take it: bf16, or float32 under the CPU
    interpreter (`TRITON_INTERPRET=1`), whose NumPy arithmetic has no bfloat16."""
    if F32:
        return x.to(tl.float32)
    return x


@triton.jit
def mx_half(w_raw, s_ptrs, s_mask, F32: tl.constexpr):
    """One 64-row half of a dequantised mxfp4 K block: codes times the e8m0 scale of
    each element's 32-group (2^(s - 127): the scale byte is a bf16 exponent field)."""
    sc = tl.load(s_ptrs, mask=s_mask, other=0).to(tl.uint16)
    return mma_in(e2m1_bf16(w_raw), F32) * mma_in((sc << 7).to(tl.bfloat16, bitcast=True), F32)


@triton.jit(do_not_specialize=["n_pairs", "a_div"])
def moe_gemm(a_ptr, w_ptr, c_ptr, as_ptr, ws_ptr, ids_ptr, eid_ptr, npad_ptr,
             n_pairs, N, K, a_div,
             s_am, s_we, s_wn, s_cm, s_asm, s_wse, s_wsn,
             BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
             GROUP_M: tl.constexpr, W_FMT: tl.constexpr, F32: tl.constexpr):
    pid = tl.program_id(0)
    n_blocks = tl.cdiv(N, BLOCK_N)
    m_blocks = tl.num_programs(0) // n_blocks
    in_group = GROUP_M * n_blocks
    first_m = (pid // in_group) * GROUP_M
    rows_in_group = tl.minimum(m_blocks - first_m, GROUP_M)
    pid_m = first_m + (pid % in_group) % rows_in_group
    pid_n = (pid % in_group) // rows_in_group
    if pid_m * BLOCK_M >= tl.load(npad_ptr):
        return
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    ids = tl.load(ids_ptr + offs_m)
    valid = ids < n_pairs
    rows = ids // a_div
    e = tl.load(eid_ptr + pid_m).to(tl.int64)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    n_ok = offs_n < N
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    if W_FMT == 2:
        # mxfp4: W is [E, N, Kp / 2] bytes (Kp: K padded to BLOCK_K with zero codes), the
        # scales [E, N, Kp / 32] bytes; A rows are read in two 64-wide halves per block.
        HALF: tl.constexpr = BLOCK_K // 2
        offs_h = tl.arange(0, HALF)
        a_ptrs = a_ptr + rows[:, None].to(tl.int64) * s_am + offs_h[None, :]
        w_ptrs = w_ptr + e * s_we + offs_n[None, :].to(tl.int64) * s_wn + offs_h[:, None]
        s_ptrs = ws_ptr + e * s_wse + offs_n[None, :].to(tl.int64) * s_wsn + offs_h[:, None] // 32
        s_mask = (offs_h[:, None] >= 0) & n_ok[None, :]
        for kb in range(0, tl.cdiv(K, BLOCK_K)):
            k0 = kb * BLOCK_K
            lo_ok = offs_h < K - k0
            hi_ok = offs_h < K - k0 - HALF
            a_lo = tl.load(a_ptrs, mask=valid[:, None] & lo_ok[None, :], other=0.0)
            a_hi = tl.load(a_ptrs + HALF, mask=valid[:, None] & hi_ok[None, :], other=0.0)
            raw = tl.load(w_ptrs, mask=n_ok[None, :], other=0)
            w_lo = mx_half(raw & 0xF, s_ptrs, s_mask, F32)
            w_hi = mx_half(raw >> 4, s_ptrs + HALF // 32, s_mask, F32)
            acc += tl.dot(mma_in(a_lo, F32), w_lo)
            acc += tl.dot(mma_in(a_hi, F32), w_hi)
            a_ptrs += BLOCK_K
            w_ptrs += HALF
            s_ptrs += BLOCK_K // 32
    else:
        offs_k = tl.arange(0, BLOCK_K)
        a_ptrs = a_ptr + rows[:, None].to(tl.int64) * s_am + offs_k[None, :]
        w_ptrs = w_ptr + e * s_we + offs_n[None, :].to(tl.int64) * s_wn + offs_k[:, None]
        for kb in range(0, tl.cdiv(K, BLOCK_K)):
            k_ok = offs_k < K - kb * BLOCK_K
            a = tl.load(a_ptrs, mask=valid[:, None] & k_ok[None, :], other=0.0)
            w = tl.load(w_ptrs, mask=k_ok[:, None] & n_ok[None, :], other=0.0)
            if W_FMT == 1:
                g = kb * BLOCK_K // 128
                a_s = tl.load(as_ptr + rows * s_asm + g, mask=valid, other=0.0)
                w_s = tl.load(ws_ptr + e * s_wse + (offs_n // 128) * s_wsn + g, mask=n_ok, other=0.0)
                acc += tl.dot(a, w) * a_s[:, None] * w_s[None, :]
            else:
                acc += tl.dot(mma_in(a, F32), mma_in(w, F32))
            a_ptrs += BLOCK_K
            w_ptrs += BLOCK_K
    c_ptrs = c_ptr + ids[:, None].to(tl.int64) * s_cm + offs_n[None, :]
    tl.store(c_ptrs, acc.to(tl.bfloat16), mask=valid[:, None] & n_ok[None, :])


def route(tokens, experts, top_k, seed):
    """Top-k experts per token, uniform at random (fixed seed), as moe_bench.py."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(tokens, experts, generator=g).topk(top_k, dim=1).indices


def align(topk, experts, block_m, device):
    """Pairs sorted by expert, each expert's run padded to block_m: (sorted ids, expert
    of each block, padded length, grid rows) as engines' alignment kernel leaves them."""
    flat = topk.flatten()
    pairs = flat.numel()
    order = torch.argsort(flat, stable=True)
    counts = torch.bincount(flat, minlength=experts).tolist()
    ids, eids, start = [], [], 0
    for ex, c in enumerate(counts):
        if c == 0:
            continue
        padded = -(-c // block_m) * block_m
        ids.extend(order[start:start + c].tolist())
        ids.extend([pairs] * (padded - c))
        eids.extend([ex] * (padded // block_m))
        start += c
    npad = len(ids)
    # Engines size the grid for the worst case (every expert's run padded), capped at
    # pairs x block_m when there are fewer pairs than a block.
    grid_rows = pairs + experts * (block_m - 1)
    if pairs < block_m:
        grid_rows = min(grid_rows, pairs * block_m)
    grid_rows = max(-(-grid_rows // block_m) * block_m, npad)
    ids.extend([pairs] * (grid_rows - npad))
    eids.extend([0] * (grid_rows // block_m - len(eids)))
    t = lambda v: torch.tensor(v, dtype=torch.int32, device=device)  # noqa: E731
    return t(ids), t(eids), t([npad]), grid_rows, counts


def quant_rows(x):
    """bf16 [m, k] -> fp8 e4m3 with one fp32 scale per 1 x 128 group."""
    m, k = x.shape
    g = x.float().view(m, k // GROUP, GROUP)
    s = g.abs().amax(-1).clamp(min=1e-4) / 448.0
    q = (g / s[..., None]).to(FP8).view(m, k)
    return q, s.contiguous()


def quant_blocks(w):
    """bf16 [E, n, k] -> fp8 with one fp32 scale per 128 x 128 block."""
    e, n, k = w.shape
    b = w.float().view(e, n // GROUP, GROUP, k // GROUP, GROUP)
    s = b.abs().amax(dim=(2, 4)).clamp(min=1e-4) / 448.0
    q = (b / s[:, :, None, :, None]).to(FP8).view(e, n, k)
    return q, s.contiguous()


class Gemm:
    """One grouped GEMM (A [rows, K] gathered by pair // a_div, W [E, N, K] in `fmt`
    (mxfp4: packed, see `mx_pack`), C [pairs, N])."""

    def __init__(self, a, w, a_s, w_s, a_div, pairs, fmt):
        self.a, self.w, self.a_s, self.w_s, self.a_div, self.pairs = a, w, a_s, w_s, a_div, pairs
        self.fmt = fmt
        self.n, self.k = w.shape[1], a.shape[1]
        self.c = torch.empty(pairs, self.n, dtype=BF16, device=a.device)

    def launcher(self, cfg, aligned):
        bm, bn, bk, gm, warps, stages = cfg
        assert self.fmt != "mxfp4" or bk == MX_BLOCK_K, "mxfp4 weights are packed per 128-wide K block"
        ids, eids, npad, grid_rows, _ = aligned
        grid = (grid_rows // bm * triton.cdiv(self.n, bn),)
        a_s = self.a_s if self.fmt == "fp8" else self.a
        w_s = self.w if self.fmt == "bf16" else self.w_s
        s_asm = self.a_s.stride(0) if self.fmt == "fp8" else 0
        s_wse, s_wsn = (0, 0) if self.fmt == "bf16" else (self.w_s.stride(0), self.w_s.stride(1))

        def run():
            moe_gemm[grid](self.a, self.w, self.c, a_s, w_s, ids, eids, npad,
                           self.pairs, self.n, self.k, self.a_div,
                           self.a.stride(0), self.w.stride(0), self.w.stride(1), self.c.stride(0),
                           s_asm, s_wse, s_wsn,
                           BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk, GROUP_M=gm, W_FMT=FMT[self.fmt],
                           F32=INTERPRET, num_warps=warps, num_stages=stages)
        return run

    def reference(self, topk):
        """float32 per-expert reference of C (fp8, mxfp4: from the dequantised bytes)."""
        flat = topk.flatten().tolist()
        a = self.a.float()
        if self.fmt == "fp8":
            a = (a.view(a.shape[0], -1, GROUP) * self.a_s[..., None]).view(a.shape)
            w = self.w.float()
            e, n, k = w.shape
            w = (w.view(e, n // GROUP, GROUP, k // GROUP, GROUP)
                 * self.w_s[:, :, None, :, None]).view(e, n, k)
        elif self.fmt == "mxfp4":
            w = mx_unpack(self.w, self.w_s, self.k)
        else:
            w = self.w.float()
        out = torch.empty(self.pairs, self.n, dtype=torch.float32, device=a.device)
        for p, ex in enumerate(flat):
            out[p] = w[ex] @ a[p // self.a_div]
        return out


def mx_random(e, n, k, gen, device):
    """Random MXFP4 weights [E, N, K] as the kernel reads them: codes packed two per
    byte per 128-wide K block (low nibbles the block's first 64 elements, high nibbles
    the next 64; K padded to the block with zero codes) and e8m0 scales [E, N, Kp / 32]
    near 2^-7 (a trained layer's magnitude; the timing does not depend on the values)."""
    kp = -(-k // MX_BLOCK_K) * MX_BLOCK_K
    codes = torch.randint(0, 16, (e, n, kp), device=device, dtype=torch.uint8, generator=gen)
    codes[:, :, k:] = 0
    blocks = codes.view(e, n, kp // MX_BLOCK_K, 2, MX_BLOCK_K // 2)
    packed = (blocks[:, :, :, 0] | (blocks[:, :, :, 1] << 4)).reshape(e, n, kp // 2).contiguous()
    scales = torch.randint(118, 124, (e, n, kp // MX), device=device, dtype=torch.uint8, generator=gen)
    return packed, scales


def mx_unpack(packed, scales, k):
    """float32 [E, N, K] of `mx_random`'s packing (the reference's dequantisation)."""
    e, n, half = packed.shape
    kp = 2 * half
    p = packed.view(e, n, kp // MX_BLOCK_K, MX_BLOCK_K // 2).long()
    codes = torch.stack((p & 0xF, p >> 4), dim=3).reshape(e, n, kp)
    lut = torch.tensor(E2M1, dtype=torch.float32, device=packed.device)
    w = lut[codes] * torch.exp2(scales.float() - 127.0).repeat_interleave(MX, dim=2)
    return w[:, :, :k]


def rel_err(y, ref):
    return ((y.float() - ref).norm() / ref.norm().clamp(min=1e-30)).item()


def make_weights(h, e, it, dtype, device):
    """One MoE layer's expert weights [E, N, K] (gate/up, then down), with their block
    scales for fp8 (quantised an expert at a time to bound the float32 temporaries) and
    mxfp4."""
    gen = torch.Generator(device=device).manual_seed(e * h + it)
    out = []
    for n, kk in ((2 * it, h), (h, it)):
        if dtype == "mxfp4":
            out.append(mx_random(e, n, kk, gen, device))
            continue
        w = torch.randn(e, n, kk, device=device, dtype=BF16, generator=gen) * (kk ** -0.5)
        if dtype != "fp8":
            out.append((w, None))
            continue
        q = torch.empty(e, n, kk, device=device, dtype=FP8)
        s = torch.empty(e, n // GROUP, kk // GROUP, device=device, dtype=torch.float32)
        for x in range(e):
            qx, sx = quant_blocks(w[x:x + 1])
            q[x], s[x] = qx[0], sx[0]
        del w
        out.append((q, s))
    return out


def make_layer(weights, h, e, k, it, tokens, dtype, device):
    """Activations for `tokens` tokens routed top-k over the layer: (route, gate/up, down)."""
    gen = torch.Generator(device=device).manual_seed(tokens)
    topk = route(tokens, e, k, 1000 + tokens)
    pairs = tokens * k
    (w_gu, wgs), (w_d, wds) = weights
    x = torch.randn(tokens, h, device=device, dtype=BF16, generator=gen)
    mid = torch.randn(pairs, it, device=device, dtype=BF16, generator=gen)
    if dtype == "fp8":
        x, xs = quant_rows(x)
        mid, ms = quant_rows(mid)
        return topk, Gemm(x, w_gu, xs, wgs, k, pairs, dtype), Gemm(mid, w_d, ms, wds, 1, pairs, dtype)
    return (topk, Gemm(x, w_gu, None, wgs, k, pairs, dtype),
            Gemm(mid, w_d, None, wds, 1, pairs, dtype))


def check_configs(device, out):
    """Each configuration against the float32 reference on a small odd-shaped layer
    (experts with 0, 1 and many pairs; N not a multiple of the tile). Returns the ones
    that pass, per dtype."""
    ok = {}
    e, k, t = 16, 4, 37
    for dtype in ("bf16", "fp8", "mxfp4"):
        # mxfp4: K with a half block and N with a partial tile (gpt-oss's 2880 = 22.5 x 128).
        h, it = (576, 160) if dtype == "mxfp4" else (512, 256)
        topk, gu, dn = make_layer(make_weights(h, e, it, dtype, device), h, e, k, it, t, dtype, device)
        refs = (gu.reference(topk), dn.reference(topk))
        ok[dtype] = []
        for cfg in CONFIGS:
            if dtype == "mxfp4" and cfg[2] != MX_BLOCK_K:
                continue
            key = f"{dtype} {'x'.join(map(str, cfg))}"
            try:
                errs = []
                for g, ref in zip((gu, dn), refs):
                    g.c.zero_()
                    g.launcher(cfg, align(topk, e, cfg[0], device))()
                    errs.append(rel_err(g.c, ref))
                err = max(errs)
                out[key] = err
                if err < 2e-2:
                    ok[dtype].append(cfg)
                log(f"check {key}: rel err {err:.2e}{'' if err < 2e-2 else ' FAILED'}")
            except Exception as ex:  # noqa: BLE001 - a config that cannot run is left out
                out[key] = f"failed: {str(ex).splitlines()[0][:160]}"
                log(f"check {key}: {out[key]}")
    return ok


def time_router(doc, timer, name, h, e, grid, device):
    """The router `[T, h] x [h, E]` (bf16, as checkpoints keep it; cuBLAS through
    PyTorch), as `moe_bench.py` times it: the cost model prices an MoE layer from
    measured rows only when its router is measured too."""
    w = torch.randn(e, h, device=device, dtype=BF16) * (h ** -0.5)
    for t in grid:
        x = torch.randn(t, h, device=device, dtype=BF16)
        sec = timer(lambda x=x: torch.nn.functional.linear(x, w))
        doc["gemm"].append(dict(m=t, n=e, k=h, dtype="bf16", seconds=sec,
                                label=f"{name}/tp1/router (torch)"))
    log(f"{name} router: T=1 {doc['gemm'][-len(grid)]['seconds']*1e6:.1f} us, "
        f"T={grid[-1]} {sec*1e6:.1f} us")


def token_grid(max_t):
    t, v = 1, []
    while t <= max_t:
        v.append(t)
        t *= 2
    return v


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--tp", default="1,2,4,8")
    ap.add_argument("--order", default="",
                    help="model:tp pairs to measure, in this order (e.g. deepseek-v3:8,deepseek-v3:1); "
                         "default: every model x --tp")
    ap.add_argument("--max-tokens", type=int, default=16384)
    ap.add_argument("--deadline-s", type=float, default=300.0)
    ap.add_argument("--check-only", action="store_true",
                    help="run the configuration checks (works under TRITON_INTERPRET=1 on CPU)")
    args = ap.parse_args()
    device = "cuda" if torch.cuda.is_available() and not INTERPRET else "cpu"
    t0 = time.time()
    doc = dict(gpu_name=torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
               torch_version=torch.__version__, checks={}, notes=[], experts=[], gemm=[])

    def save():
        with open(args.out + ".tmp", "w") as f:
            json.dump(doc, f, indent=1)
        os.replace(args.out + ".tmp", args.out)

    good = check_configs(device, doc["checks"])
    save()
    if args.check_only:
        return
    doc["notes"].append(f"triton {triton.__version__}; configurations (BLOCK_M x BLOCK_N x BLOCK_K x "
                        f"GROUP_M x warps x stages) passing the check: "
                        + "; ".join(f"{d}: {len(c)} of {len(CONFIGS)}" for d, c in good.items()))
    # Two kernel launches from Python per sample: a longer sleep than moe_bench.py's.
    timer = Timer(args.reps, sleep_cycles=1_000_000)
    grid = token_grid(args.max_tokens)
    if args.order:
        jobs = [(m, int(t)) for m, t in (x.split(":") for x in args.order.split(","))]
    else:
        jobs = [(m, int(t)) for m in args.models.split(",") for t in args.tp.split(",")]
    routed = set()
    for name, tp in jobs:
        h, e, k, inter = MODELS[name]
        it = inter // tp
        if name not in routed:
            routed.add(name)
            time_router(doc, timer, name, h, e, grid, device)
        for dtype in DTYPES.get(name, ("bf16", "fp8")):
            if it % GROUP and dtype == "fp8":
                doc["notes"].append(f"{name} tp{tp} fp8: {it} not a multiple of {GROUP}")
                continue
            try:
                w = make_weights(h, e, it, dtype, device)
            except Exception as ex:  # noqa: BLE001 - record and go on
                doc["notes"].append(f"{name} tp{tp} {dtype}: weights failed: {str(ex).splitlines()[0][:200]}")
                continue
            for t in grid:
                if time.time() - t0 > args.deadline_s:
                    doc["notes"].append(f"deadline: stopped before {name} tp{tp} {dtype} T={t}")
                    save()
                    return
                try:
                    topk, gu, dn = make_layer(w, h, e, k, it, t, dtype, device)
                    best = None
                    avg = t * k / e
                    # Tiles far from the pairs per expert are never an engine's pick
                    # (and the small ones are slow to time at prefill sizes).
                    cands = [c for c in good[dtype] if min(64, avg / 8) <= c[0] <= max(16, 2 * avg)]
                    for cfg in cands:
                        al = align(topk, e, cfg[0], device)
                        f1, f2 = gu.launcher(cfg, al), dn.launcher(cfg, al)
                        sec = timer(lambda: (f1(), f2()))
                        if best is None or sec < best[0]:
                            best = (sec, cfg)
                    if best is None:
                        continue
                    sec, cfg = best
                    touched = len(set(topk.flatten().tolist()))
                    flops = 2.0 * t * k * 3 * h * it
                    doc["experts"].append(dict(
                        hidden=h, inter=it, experts=e, top_k=k, dtype=dtype, tokens=t,
                        touched=touched, seconds=sec,
                        kernel=f"xpyd-triton-fused-moe {'x'.join(map(str, cfg))}",
                        label=f"{name}/tp{tp}"))
                    log(f"{name} tp{tp} {dtype} T={t}: {sec*1e6:.1f} us "
                        f"{flops/sec/1e12:.0f} TFLOP/s, {touched} experts, cfg {cfg}")
                    del gu, dn
                except Exception as ex:  # noqa: BLE001 - record and go on
                    doc["notes"].append(f"{name} tp{tp} {dtype} T={t}: failed: "
                                        f"{str(ex).splitlines()[0][:200]}")
                    log(doc["notes"][-1])
            del w
            torch.cuda.empty_cache()
            save()
    doc["notes"].append(f"took {time.time() - t0:.0f} s")
    save()


if __name__ == "__main__":
    main()
