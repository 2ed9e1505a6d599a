#!/usr/bin/env python3
"""Time gpt-oss's MXFP4 routed experts with Triton's block-scaled dot (`tl.dot_scaled`,
bf16 activations x e2m1 weights with e8m0 scales), and write rows in the format of
`moe_bench.py` for `xpyd-calibrate merge-moe`.

Why: `moe_triton_bench.py`'s mxfp4 path dequantises the weights by hand in registers and
reads them at 0.16-0.51 TB/s on an H200 (calibrate/measurements/moe_mxfp4_h200.log), a
tenth of HBM and far slower than vLLM's measured gpt-oss decode steps. Engines on Hopper
run gpt-oss's experts through Triton's scaled dot (vLLM's default MXFP4 backend on SM90
and TensorRT-LLM's TRITON MoE backend both build on OpenAI's `triton_kernels`, whose
matmul calls `tl.dot_scaled`; on GPUs without FP4 tensor cores Triton lowers it to an
upcast of the e2m1 tile to bf16 and a bf16 MMA). This script measures a grouped GEMM of
`moe_triton_bench.py`'s design (pairs sorted by expert, each run padded to BLOCK_M, one
program per BLOCK_M x BLOCK_N tile) whose inner product is that scaled dot, written here
from Triton's documented `tl.dot_scaled` semantics (no engine code).

Packing (OCP Microscaling, as the checkpoints store it): W is [E, N, Kp / 2] bytes, two
e2m1 codes per byte along K (element 2i in the low nibble, 2i + 1 in the high one), Kp =
K padded to 256 with zero codes; scales [E, N, Kp / 32] e8m0 bytes. Every configuration
is checked against a float32 reference of the same bytes before it is timed; a failing or
non-compiling one is left out, and the checks go into the output.

Usage: python3 mxfp4_moe_bench.py OUT.json [--reps 5] [--tp 1,2,4,8] [--max-tokens 16384]
       [--deadline-s 200] [--check-only]
"""
import argparse
import json
import os
import time

import torch
import triton
import triton.language as tl

from moe_bench import Timer
from moe_triton_bench import BF16, E2M1, MX, MODELS, align, rel_err, route, time_router, token_grid

K_PAD = 256  # K padded to the largest BLOCK_K
# (BLOCK_M, BLOCK_N, BLOCK_K, GROUP_M, num_warps, num_stages)
CONFIGS = [
    (16, 32, 128, 1, 4, 3),
    (16, 64, 128, 1, 4, 3),
    (16, 64, 256, 1, 4, 3),
    (16, 128, 128, 1, 4, 3),
    (16, 128, 256, 1, 4, 2),
    (16, 256, 128, 1, 8, 3),
    (32, 64, 128, 1, 4, 3),
    (32, 128, 128, 1, 4, 3),
    (32, 128, 256, 1, 8, 3),
    (64, 64, 128, 8, 4, 3),
    (64, 128, 128, 8, 4, 3),
    (64, 128, 256, 8, 8, 3),
    (128, 128, 128, 8, 8, 3),
    (128, 256, 128, 8, 8, 3),
    (128, 128, 256, 8, 8, 3),
]


def log(*a):
    print(*a, flush=True)


@triton.jit(do_not_specialize=["n_pairs", "a_div"])
def moe_gemm_mx(a_ptr, w_ptr, c_ptr, ws_ptr, ids_ptr, eid_ptr, npad_ptr,
                n_pairs, N, K, a_div, s_am, s_we, s_wn, s_cm, s_wse, s_wsn,
                BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                GROUP_M: tl.constexpr):
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
    offs_kh = tl.arange(0, BLOCK_K // 2)
    offs_ks = tl.arange(0, BLOCK_K // 32)
    a_ptrs = a_ptr + rows[:, None].to(tl.int64) * s_am + offs_k[None, :]
    w_ptrs = w_ptr + e * s_we + offs_n[None, :].to(tl.int64) * s_wn + offs_kh[:, None]
    s_ptrs = ws_ptr + e * s_wse + offs_n[:, None].to(tl.int64) * s_wsn + offs_ks[None, :]
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for kb in range(0, tl.cdiv(K, BLOCK_K)):
        k_ok = offs_k < K - kb * BLOCK_K
        a = tl.load(a_ptrs, mask=valid[:, None] & k_ok[None, :], other=0.0)
        w = tl.load(w_ptrs, mask=n_ok[None, :], other=0)
        s = tl.load(s_ptrs, mask=n_ok[:, None], other=127)
        acc = tl.dot_scaled(a, None, "bf16", w, s, "e2m1", acc)
        a_ptrs += BLOCK_K
        w_ptrs += BLOCK_K // 2
        s_ptrs += BLOCK_K // 32
    c_ptrs = c_ptr + ids[:, None].to(tl.int64) * s_cm + offs_n[None, :]
    tl.store(c_ptrs, acc.to(tl.bfloat16), mask=valid[:, None] & n_ok[None, :])


def mx_random(e, n, k, gen, device):
    """Random OCP-packed MXFP4 weights [E, N, K] (see the module doc) with e8m0 scales
    near 2^-7 (a trained layer's magnitude; the timing does not depend on the values)."""
    kp = -(-k // K_PAD) * K_PAD
    codes = torch.randint(0, 16, (e, n, kp), device=device, dtype=torch.uint8, generator=gen)
    codes[:, :, k:] = 0
    pairs = codes.view(e, n, kp // 2, 2)
    packed = (pairs[..., 0] | (pairs[..., 1] << 4)).contiguous()
    scales = torch.randint(118, 124, (e, n, kp // MX), device=device, dtype=torch.uint8, generator=gen)
    return packed, scales


def mx_unpack(packed, scales, k):
    e, n, half = packed.shape
    p = packed.long()
    codes = torch.stack((p & 0xF, p >> 4), dim=3).reshape(e, n, 2 * half)
    lut = torch.tensor(E2M1, dtype=torch.float32, device=packed.device)
    w = lut[codes] * torch.exp2(scales.float() - 127.0).repeat_interleave(MX, dim=2)
    return w[:, :, :k]


class Gemm:
    """One grouped GEMM: A [rows, K] bf16 gathered by pair // a_div, W MXFP4 [E, N, K]."""

    def __init__(self, a, w, ws, a_div, pairs):
        self.a, self.w, self.ws, self.a_div, self.pairs = a, w, ws, a_div, pairs
        self.n, self.k = w.shape[1], a.shape[1]
        self.c = torch.empty(pairs, self.n, dtype=BF16, device=a.device)

    def launcher(self, cfg, aligned):
        bm, bn, bk, gm, warps, stages = cfg
        ids, eids, npad, grid_rows, _ = aligned
        grid = (grid_rows // bm * triton.cdiv(self.n, bn),)

        def run():
            moe_gemm_mx[grid](self.a, self.w, self.c, self.ws, ids, eids, npad,
                              self.pairs, self.n, self.k, self.a_div,
                              self.a.stride(0), self.w.stride(0), self.w.stride(1), self.c.stride(0),
                              self.ws.stride(0), self.ws.stride(1),
                              BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk, GROUP_M=gm,
                              num_warps=warps, num_stages=stages)
        return run

    def reference(self, topk):
        flat = topk.flatten().tolist()
        a = self.a.float()
        w = mx_unpack(self.w, self.ws, self.k)
        out = torch.empty(self.pairs, self.n, dtype=torch.float32, device=a.device)
        for p, ex in enumerate(flat):
            out[p] = w[ex] @ a[p // self.a_div]
        return out


def make_weights(h, e, it, device):
    gen = torch.Generator(device=device).manual_seed(e * h + it)
    return [mx_random(e, n, kk, gen, device) for n, kk in ((2 * it, h), (h, it))]


def make_layer(weights, h, e, k, it, tokens, device):
    gen = torch.Generator(device=device).manual_seed(tokens)
    topk = route(tokens, e, k, 1000 + tokens)
    pairs = tokens * k
    (w_gu, s_gu), (w_d, s_d) = weights
    x = torch.randn(tokens, h, device=device, dtype=BF16, generator=gen)
    mid = torch.randn(pairs, it, device=device, dtype=BF16, generator=gen)
    return topk, Gemm(x, w_gu, s_gu, k, pairs), Gemm(mid, w_d, s_d, 1, pairs)


def check_configs(device, out):
    """Each configuration against the float32 reference on an odd-shaped layer (K not a
    multiple of the block, N with a partial tile, experts with 0, 1 and many pairs)."""
    e, k, t, h, it = 16, 4, 37, 576, 160
    topk, gu, dn = make_layer(make_weights(h, e, it, device), h, e, k, it, t, device)
    refs = (gu.reference(topk), dn.reference(topk))
    ok = []
    for cfg in CONFIGS:
        key = "mxfp4-scaled " + "x".join(map(str, cfg))
        try:
            errs = []
            for g, ref in zip((gu, dn), refs):
                g.c.zero_()
                g.launcher(cfg, align(topk, e, cfg[0], device))()
                errs.append(rel_err(g.c, ref))
            err = max(errs)
            out[key] = err
            if err < 2e-2:
                ok.append(cfg)
            log(f"check {key}: rel err {err:.2e}{'' if err < 2e-2 else ' FAILED'}")
        except Exception as ex:  # noqa: BLE001 - a config that cannot run is left out
            out[key] = f"failed: {str(ex).splitlines()[0][:200]}"
            log(f"check {key}: {out[key]}")
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--tp", default="1,2,4,8")
    ap.add_argument("--max-tokens", type=int, default=16384)
    ap.add_argument("--deadline-s", type=float, default=200.0)
    ap.add_argument("--check-only", action="store_true")
    args = ap.parse_args()
    device = "cuda"
    t0 = time.time()
    doc = dict(gpu_name=torch.cuda.get_device_name(0), torch_version=torch.__version__,
               checks={}, notes=[f"triton {triton.__version__}"], experts=[], gemm=[])

    def save():
        with open(args.out + ".tmp", "w") as f:
            json.dump(doc, f, indent=1)
        os.replace(args.out + ".tmp", args.out)

    good = check_configs(device, doc["checks"])
    doc["notes"].append(f"configurations passing the check: {len(good)} of {len(CONFIGS)}")
    save()
    if args.check_only or not good:
        return
    timer = Timer(args.reps, sleep_cycles=1_000_000)
    grid = token_grid(args.max_tokens)
    name = "gpt-oss-120b"
    h, e, k, inter = MODELS[name]
    time_router(doc, timer, name, h, e, grid, device)
    for tp in map(int, args.tp.split(",")):
        it = inter // tp
        w = make_weights(h, e, it, device)
        for t in grid:
            if time.time() - t0 > args.deadline_s:
                doc["notes"].append(f"deadline: stopped before tp{tp} T={t}")
                save()
                return
            topk, gu, dn = make_layer(w, h, e, k, it, t, device)
            avg = t * k / e
            cands = [c for c in good if min(64, avg / 8) <= c[0] <= max(16, 2 * avg)]
            best = None
            for cfg in cands:
                try:
                    al = align(topk, e, cfg[0], device)
                    f1, f2 = gu.launcher(cfg, al), dn.launcher(cfg, al)
                    sec = timer(lambda: (f1(), f2()))
                except Exception as ex:  # noqa: BLE001 - record and go on
                    doc["notes"].append(f"tp{tp} T={t} {cfg}: {str(ex).splitlines()[0][:160]}")
                    continue
                if best is None or sec < best[0]:
                    best = (sec, cfg)
            if best is None:
                continue
            sec, cfg = best
            touched = len(set(topk.flatten().tolist()))
            wbytes = touched * 3 * h * it * 4.25 / 8
            doc["experts"].append(dict(
                hidden=h, inter=it, experts=e, top_k=k, dtype="mxfp4", tokens=t,
                touched=touched, seconds=sec,
                kernel=f"xpyd-triton-dot-scaled-moe {'x'.join(map(str, cfg))}",
                label=f"{name}/tp{tp}"))
            log(f"{name} tp{tp} T={t}: {sec*1e6:.1f} us, {2.0*t*k*3*h*it/sec/1e12:.0f} TFLOP/s, "
                f"{wbytes/sec/1e12:.2f} TB/s of weights, {touched} experts, cfg {cfg}")
        del w
        torch.cuda.empty_cache()
        save()
    doc["notes"].append(f"took {time.time() - t0:.0f} s")
    save()


if __name__ == "__main__":
    main()
