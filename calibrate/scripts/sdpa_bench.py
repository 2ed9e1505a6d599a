#!/usr/bin/env python3
"""Time torch.nn.functional.scaled_dot_product_attention (causal, GQA, head_dim 128 and
optionally 64, bf16) on the prefill shapes `xpyd-calibrate run` measures with its own kernel, with the
flash backend (FlashAttention-2, rows labelled `torch-sdpa`) and the cuDNN backend (rows
labelled `torch-sdpa-cudnn`; on Hopper cuDNN runs its own wgmma kernels), and write JSON
that `xpyd-calibrate merge-sdpa` folds into a profile.

Usage: python3 sdpa_bench.py OUT.json [--reps 20] [--head-dims 128,64]
Head dim 64 (gpt-oss-120b: 64 query and 8 KV heads) runs its heads at TP 1, 4 and 8
(64/8, 16/2, 8/1); its attention sinks (one learned logit per head) are not in SDPA and
not timed (one extra column of the softmax).
Shapes: (batch, new_tokens) with context 0 (a fresh prompt, is_causal); the same grid as
calibrate/src/run.rs `prefill_grid` without its context > 0 points (SDPA's is_causal is
top-left aligned, so chunked-prefill shapes would need a mask and leave the flash path).
Timing: CUDA events after a GPU-side sleep (so host dispatch time stays out), 3 warm-up
calls, median of --reps samples; calls under 0.2 ms are timed 10 back-to-back per sample.
"""
import json
import statistics
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel


# (query heads, KV heads) per head dim: Llama/Qwen-style 128-dim heads at TP 1 and 4 of
# 32/8, gpt-oss's 64-dim heads at TP 1, 4 and 8.
HEADS = {128: [(32, 8), (8, 1)], 64: [(64, 8), (16, 2), (8, 1)]}


def grid(d):
    for h, kv in HEADS[d]:
        for n in [128, 256, 512, 1024, 2048, 4096, 8192, 16384]:
            for b in [1, 4]:
                if b * n <= 16384:
                    yield b, n, 0, h, kv


BACKENDS = [(SDPBackend.FLASH_ATTENTION, "torch-sdpa"), (SDPBackend.CUDNN_ATTENTION, "torch-sdpa-cudnn")]


def time_one(b, n, h, kv, d, reps, backend, label):
    q = torch.randn(b, h, n, d, device="cuda", dtype=torch.bfloat16)
    k = torch.randn(b, kv, n, d, device="cuda", dtype=torch.bfloat16)
    v = torch.randn(b, kv, n, d, device="cuda", dtype=torch.bfloat16)

    def call():
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)

    with sdpa_kernel([backend]):
        try:
            call()
            fn = call
        except RuntimeError:
            # Backend without native GQA: expand K/V outside the timed region.
            k2 = k.repeat_interleave(h // kv, dim=1)
            v2 = v.repeat_interleave(h // kv, dim=1)

            def fn():
                return F.scaled_dot_product_attention(q, k2, v2, is_causal=True)

        for _ in range(3):
            fn()
        torch.cuda.synchronize()
        # A GPU-side sleep ahead of each sample keeps the host's dispatch time out of the
        # events; small calls are timed `inner` at a time and divided.
        s = torch.cuda.Event(enable_timing=True)
        e = torch.cuda.Event(enable_timing=True)
        s.record()
        fn()
        e.record()
        e.synchronize()
        inner = 10 if s.elapsed_time(e) < 0.2 else 1
        times = []
        for _ in range(reps):
            torch.cuda._sleep(400_000)  # about 200 us at 2 GHz
            s.record()
            for _ in range(inner):
                fn()
            e.record()
            e.synchronize()
            times.append(s.elapsed_time(e) * 1e-3 / inner)
    return statistics.median(times), label


def main():
    out = sys.argv[1]
    reps = int(sys.argv[sys.argv.index("--reps") + 1]) if "--reps" in sys.argv else 20
    dims = [128]
    if "--head-dims" in sys.argv:
        dims = [int(x) for x in sys.argv[sys.argv.index("--head-dims") + 1].split(",")]
    unknown = [d for d in dims if d not in HEADS]
    if unknown:
        sys.exit(f"--head-dims: {unknown} not among {sorted(HEADS)}")
    rows = []
    for backend, label in BACKENDS:
        for d in dims:
            for b, n, ctx, h, kv in grid(d):
                try:
                    sec, label = time_one(b, n, h, kv, d, reps, backend, label)
                except RuntimeError as e:
                    print(f"{label} d={d} b={b} n={n} h={h}/{kv}: unavailable: {str(e).splitlines()[0]}",
                          flush=True)
                    break
                flops = 4.0 * b * h * d * (n * ctx + n * (n + 1) / 2)
                print(f"{label} d={d} b={b} n={n} h={h}/{kv}: {sec*1e3:.3f} ms {flops/sec/1e12:.0f} TFLOP/s",
                      flush=True)
                rows.append(dict(batch=b, new_tokens=n, context=ctx, heads=h, kv_heads=kv, head_dim=d,
                                 seconds=sec, kernel=label))
    doc = dict(gpu_name=torch.cuda.get_device_name(0), torch_version=torch.__version__, rows=rows)
    with open(out + ".tmp", "w") as f:
        json.dump(doc, f, indent=1)
    import os
    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    main()
