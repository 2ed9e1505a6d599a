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
each 128-wide K step's partial product. The grid is as engines size it (every program
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
}
BF16 = torch.bfloat16
FP8 = torch.float8_e4m3fn
GROUP = 128  # DeepSeek-V3's fp8 block size (quantization_config.weight_block_size)

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


@triton.jit(do_not_specialize=["n_pairs", "a_div"])
def moe_gemm(a_ptr, w_ptr, c_ptr, as_ptr, ws_ptr, ids_ptr, eid_ptr, npad_ptr,
             n_pairs, N, K, a_div,
             s_am, s_we, s_wn, s_cm, s_asm, s_wse, s_wsn,
             BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
             GROUP_M: tl.constexpr, IS_FP8: tl.constexpr):
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
    offs_k = tl.arange(0, BLOCK_K)
    a_ptrs = a_ptr + rows[:, None].to(tl.int64) * s_am + offs_k[None, :]
    w_ptrs = w_ptr + e * s_we + offs_n[None, :].to(tl.int64) * s_wn + offs_k[:, None]
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for kb in range(0, tl.cdiv(K, BLOCK_K)):
        k_ok = offs_k < K - kb * BLOCK_K
        a = tl.load(a_ptrs, mask=valid[:, None] & k_ok[None, :], other=0.0)
        w = tl.load(w_ptrs, mask=k_ok[:, None] & n_ok[None, :], other=0.0)
        if IS_FP8:
            g = kb * BLOCK_K // 128
            a_s = tl.load(as_ptr + rows * s_asm + g, mask=valid, other=0.0)
            w_s = tl.load(ws_ptr + e * s_wse + (offs_n // 128) * s_wsn + g, mask=n_ok, other=0.0)
            acc += tl.dot(a, w) * a_s[:, None] * w_s[None, :]
        else:
            acc += tl.dot(a, w)
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
    """One grouped GEMM (A rows gathered by pair // a_div, W [E, N, K], C [pairs, N])."""

    def __init__(self, a, w, a_s, w_s, a_div, pairs):
        self.a, self.w, self.a_s, self.w_s, self.a_div, self.pairs = a, w, a_s, w_s, a_div, pairs
        self.n, self.k = w.shape[1], w.shape[2]
        self.c = torch.empty(pairs, self.n, dtype=BF16, device=a.device)
        self.fp8 = a.dtype == FP8

    def launcher(self, cfg, aligned):
        bm, bn, bk, gm, warps, stages = cfg
        ids, eids, npad, grid_rows, _ = aligned
        grid = (grid_rows // bm * triton.cdiv(self.n, bn),)
        a_s = self.a_s if self.fp8 else self.a
        w_s = self.w_s if self.fp8 else self.w
        s_asm = self.a_s.stride(0) if self.fp8 else 0
        s_wse, s_wsn = (self.w_s.stride(0), self.w_s.stride(1)) if self.fp8 else (0, 0)

        def run():
            moe_gemm[grid](self.a, self.w, self.c, a_s, w_s, ids, eids, npad,
                           self.pairs, self.n, self.k, self.a_div,
                           self.a.stride(0), self.w.stride(0), self.w.stride(1), self.c.stride(0),
                           s_asm, s_wse, s_wsn,
                           BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk, GROUP_M=gm, IS_FP8=self.fp8,
                           num_warps=warps, num_stages=stages)
        return run

    def reference(self, topk):
        """float32 per-expert reference of C (fp8: from the dequantised bytes)."""
        flat = topk.flatten().tolist()
        a = self.a.float()
        w = self.w.float()
        if self.fp8:
            a = (a.view(a.shape[0], -1, GROUP) * self.a_s[..., None]).view(a.shape)
            e, n, k = w.shape
            w = (w.view(e, n // GROUP, GROUP, k // GROUP, GROUP)
                 * self.w_s[:, :, None, :, None]).view(e, n, k)
        out = torch.empty(self.pairs, self.n, dtype=torch.float32, device=a.device)
        for p, ex in enumerate(flat):
            out[p] = w[ex] @ a[p // self.a_div]
        return out


def rel_err(y, ref):
    return ((y.float() - ref).norm() / ref.norm().clamp(min=1e-30)).item()


def make_weights(h, e, it, dtype, device):
    """One MoE layer's expert weights [E, N, K] (gate/up, then down), with their block
    scales for fp8 (quantised an expert at a time to bound the float32 temporaries)."""
    gen = torch.Generator(device=device).manual_seed(e * h + it)
    out = []
    for n, kk in ((2 * it, h), (h, it)):
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
        return topk, Gemm(x, w_gu, xs, wgs, k, pairs), Gemm(mid, w_d, ms, wds, 1, pairs)
    return topk, Gemm(x, w_gu, None, None, k, pairs), Gemm(mid, w_d, None, None, 1, pairs)


def check_configs(device, out):
    """Each configuration against the float32 reference on a small odd-shaped layer
    (experts with 0, 1 and many pairs; N not a multiple of the tile). Returns the ones
    that pass, per dtype."""
    ok = {}
    h, e, k, it, t = 512, 16, 4, 256, 37
    for dtype in ("bf16", "fp8"):
        topk, gu, dn = make_layer(make_weights(h, e, it, dtype, device), h, e, k, it, t, dtype, device)
        refs = (gu.reference(topk), dn.reference(topk))
        ok[dtype] = []
        for cfg in CONFIGS:
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
    device = "cuda" if torch.cuda.is_available() and not os.environ.get("TRITON_INTERPRET") else "cpu"
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
    for name, tp in jobs:
        h, e, k, inter = MODELS[name]
        it = inter // tp
        for dtype in ("bf16", "fp8"):
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
