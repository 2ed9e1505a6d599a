#!/usr/bin/env python3
"""Time DeepSeek-V3 MLA attention with PyTorch on one GPU and write JSON that
`xpyd-calibrate merge-sdpa` folds into a profile (prefill rows with `v_head_dim`).

- Prefill (non-absorbed, as engines run MLA prefill): per head q/k width 192
  (qk_nope 128 + rope 64), v width 128, causal, `heads` = 128 / TP query heads with as many
  KV heads (after the kv_b up-projection every head has its own k and v).
  Backends, each its own label: cuDNN (`torch-sdpa-cudnn`, native d_v != d_qk), the
  memory-efficient backend (`torch-sdpa-efficient`), and FlashAttention-2 with v padded
  to 192 (`torch-sdpa-flash-vpad`, what vLLM does on FA2; the padded FLOPs are not counted).
- Decode (absorbed form over the compressed latent cache, per head q . [c_kv; k_rope] of
  width 576, output over the 512-wide c_kv), written as two batched GEMMs and a softmax
  (`torch-bmm-absorbed`): a PyTorch reference, not FlashMLA; it reads the cache twice
  and writes the scores, so it is an upper bound on a fused kernel's time.

Timing: CUDA events after a GPU-side sleep, 2 warm-ups, median of --reps.
Check: each prefill backend is compared with a float32 reference on a small case.

Usage: python3 mla_bench.py OUT.json [--reps 9]
"""
import argparse
import json
import math
import os
import statistics

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

BF16 = torch.bfloat16
QK, V, LAT, ROPE = 192, 128, 512, 64


def log(*a):
    print(*a, flush=True)


def timed(fn, reps):
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for _ in range(2):
        fn()
    torch.cuda.synchronize()
    s.record()
    fn()
    e.record()
    e.synchronize()
    inner = 10 if s.elapsed_time(e) < 0.2 else 1
    ts = []
    for _ in range(reps):
        torch.cuda._sleep(200_000)
        s.record()
        for _ in range(inner):
            fn()
        e.record()
        e.synchronize()
        ts.append(s.elapsed_time(e) * 1e-3 / inner)
    return statistics.median(ts)


def prefill_call(label, q, k, v):
    if label == "torch-sdpa-flash-vpad":
        vp = F.pad(v, (0, QK - V))

        def padded():
            with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
                return F.scaled_dot_product_attention(q, k, vp, is_causal=True)[..., :V]
        return padded
    be = {"torch-sdpa-cudnn": SDPBackend.CUDNN_ATTENTION,
          "torch-sdpa-efficient": SDPBackend.EFFICIENT_ATTENTION}[label]

    def fn():
        with sdpa_kernel([be]):
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    return fn


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--reps", type=int, default=9)
    a = ap.parse_args()
    rows, decode, checks = [], [], {}
    # Small-case check against a float32 reference.
    torch.manual_seed(0)
    q = torch.randn(1, 4, 100, QK, device="cuda", dtype=BF16)
    k = torch.randn(1, 4, 100, QK, device="cuda", dtype=BF16)
    v = torch.randn(1, 4, 100, V, device="cuda", dtype=BF16)
    sc = (q.float() @ k.float().transpose(-1, -2)) / math.sqrt(QK)
    sc = sc.masked_fill(torch.ones(100, 100, device="cuda", dtype=torch.bool).triu(1), float("-inf"))
    ref = sc.softmax(-1) @ v.float()
    labels = []
    for label in ("torch-sdpa-cudnn", "torch-sdpa-efficient", "torch-sdpa-flash-vpad"):
        try:
            if label == "torch-sdpa-flash-vpad":
                vp = F.pad(v, (0, QK - V))
                with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
                    y = F.scaled_dot_product_attention(q, k, vp, is_causal=True)[..., :V]
            else:
                y = prefill_call(label, q, k, v)()
            err = ((y.float() - ref).norm() / ref.norm()).item()
            checks[label] = err
            log(f"check {label}: rel err {err:.2e}")
            if err < 2e-2:
                labels.append(label)
        except RuntimeError as ex:
            checks[label] = str(ex).splitlines()[0][:160]
            log(f"check {label}: unavailable: {checks[label]}")
    for label in labels:
        for heads in (16, 128):
            for n in (128, 512, 1024, 2048, 4096, 8192, 16384):
                if heads * n > 128 * 8192 and label != "torch-sdpa-cudnn":
                    continue
                try:
                    q = torch.randn(1, heads, n, QK, device="cuda", dtype=BF16)
                    k = torch.randn(1, heads, n, QK, device="cuda", dtype=BF16)
                    v = torch.randn(1, heads, n, V, device="cuda", dtype=BF16)
                    sec = timed(prefill_call(label, q, k, v), a.reps)
                except RuntimeError as ex:
                    log(f"{label} h={heads} n={n}: {str(ex).splitlines()[0][:160]}")
                    continue
                flops = 2.0 * heads * (QK + V) * n * (n + 1) / 2
                log(f"{label} h={heads} n={n}: {sec*1e3:.3f} ms {flops/sec/1e12:.0f} TFLOP/s")
                rows.append(dict(batch=1, new_tokens=n, context=0, heads=heads, kv_heads=heads,
                                 head_dim=QK, v_head_dim=V, seconds=sec, kernel=label))
                del q, k, v
        torch.cuda.empty_cache()
    # Absorbed decode reference.
    for heads in (16, 128):
        for b in (1, 8, 32, 128):
            for ctx in (1024, 4096, 16384):
                if b * ctx > 1 << 20:
                    continue
                qa = torch.randn(b, heads, LAT + ROPE, device="cuda", dtype=BF16)
                cache = torch.randn(b, ctx, LAT + ROPE, device="cuda", dtype=BF16)
                scale = 1.0 / math.sqrt(QK)

                def fn():
                    s = torch.bmm(qa, cache.transpose(1, 2)).mul_(scale).softmax(-1)
                    return torch.bmm(s, cache[:, :, :LAT])
                sec = timed(fn, a.reps)
                kv_bytes = b * ctx * (LAT + ROPE) * 2
                log(f"torch-bmm-absorbed h={heads} b={b} ctx={ctx}: {sec*1e6:.1f} us "
                    f"{kv_bytes/sec/1e9:.0f} GB/s of latent")
                decode.append(dict(batch=b, context=ctx, heads=heads, seconds=sec,
                                   kernel="torch-bmm-absorbed"))
                del qa, cache
    doc = dict(gpu_name=torch.cuda.get_device_name(0), torch_version=torch.__version__,
               checks=checks, rows=rows, mla_decode=decode)
    with open(a.out + ".tmp", "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(a.out + ".tmp", a.out)


if __name__ == "__main__":
    main()
