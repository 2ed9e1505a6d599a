#!/usr/bin/env python3
"""Time the MoE FFN of the catalog's MoE models on one GPU as engines run it, and write
JSON that `xpyd-calibrate merge-moe` folds into a profile.

What is timed, per (model, TP split of the expert intermediate size, weight dtype, tokens):

- `experts`: the routed experts of one MoE layer as two grouped GEMMs over all E experts
  held by the GPU: gate/up `[T k, h] x [E, h, 2 I/t]` and down `[T k, I/t] x [E, I/t, h]`,
  rows grouped by expert (`torch._grouped_mm`, CUTLASS grouped GEMM on sm90, bf16;
  `torch._scaled_grouped_mm`, fp8 e4m3 with row-wise scales). T tokens are routed top-k
  at random (uniform, fixed seed), so on average `T k / E` tokens reach each expert and
  small batches touch few experts. If a grouped kernel is unavailable, a loop of one
  GEMM per touched expert replayed in a CUDA graph is timed instead (kernel label says
  which). SiLU-and-mul, the permute and the top-k reduction are memory-bound kernels and
  not part of these rows.
- `gemm` rows (plain linear layers, cuBLAS through PyTorch): the router `[T, h] x [h, E]`
  (bf16, as checkpoints keep it) and the shared experts' gate/up and down (DeepSeek-V3),
  bf16 and fp8 (`torch._scaled_mm`, per-tensor scales).

Timing: before each sample a 256 MiB buffer is zeroed (L2 is cold, the layer's weights
come from HBM as in a forward pass), then a GPU-side sleep hides host dispatch, then CUDA
events around the call; 2 warm-ups, median of --reps samples.

Check: the grouped kernels are compared with a per-expert matmul loop on a small case;
the relative error goes into the output (`checks`).

Usage: python3 moe_bench.py OUT.json [--reps 7] [--models qwen3-235b-a22b,deepseek-v3]
       [--tp 1,2,4,8] [--max-tokens 16384] [--deadline-s 240]
"""
import argparse
import json
import os
import statistics
import time

import torch
import torch.nn.functional as F

# models/src/arch.rs (from each model's Hugging Face config.json):
# hidden, routed experts, top-k, expert intermediate, shared experts x their intermediate.
MODELS = {
    "qwen3-235b-a22b": (4096, 128, 8, 1536, 0),
    "deepseek-v3": (7168, 256, 8, 2048, 2048),
}
BF16 = torch.bfloat16
FP8 = torch.float8_e4m3fn


def log(*a):
    print(*a, flush=True)


class Timer:
    """Median seconds of `fn` with weights cold in HBM (a 256 MiB buffer zeroed before each
    sample) and host dispatch hidden behind a GPU-side sleep of `sleep_cycles`."""

    def __init__(self, reps, sleep_cycles=200_000):
        self.reps = reps
        self.sleep_cycles = sleep_cycles
        self.flush = torch.empty(256 << 20, dtype=torch.uint8, device="cuda")
        self.s = torch.cuda.Event(enable_timing=True)
        self.e = torch.cuda.Event(enable_timing=True)

    def __call__(self, fn):
        for _ in range(2):
            fn()
        torch.cuda.synchronize()
        times = []
        for _ in range(self.reps):
            self.flush.zero_()
            torch.cuda._sleep(self.sleep_cycles)
            self.s.record()
            fn()
            self.e.record()
            self.e.synchronize()
            times.append(self.s.elapsed_time(self.e) * 1e-3)
        return statistics.median(times)


def route(tokens, experts, top_k, seed):
    g = torch.Generator().manual_seed(seed)
    idx = torch.rand(tokens, experts, generator=g).topk(top_k, dim=1).indices
    counts = torch.bincount(idx.flatten(), minlength=experts)
    return counts


def grouped_bf16(a, w, offs):
    if hasattr(torch, "_grouped_mm"):
        return torch._grouped_mm(a, w, offs=offs, out_dtype=BF16)
    return F.grouped_mm(a, w, offs=offs)


def grouped_fp8(a, w, sa, sw, offs):
    return torch._scaled_grouped_mm(a, w, sa, sw, offs=offs, out_dtype=BF16, use_fast_accum=True)


def weights(e, n, k, dtype):
    """[E, k, n] as the transpose of an [E, n, k] tensor (weights stored out x in)."""
    w = torch.randn(e, n, k, device="cuda", dtype=BF16) * (k ** -0.5)
    if dtype == "fp8":
        w = w.to(FP8)
    return w.transpose(1, 2)


def make_loop_graph(a, w, counts, dtype):
    """One GEMM per touched expert in a CUDA graph (fallback)."""
    one = torch.ones((), device="cuda", dtype=torch.float32)
    bounds = []
    start = 0
    for ex, c in enumerate(counts.tolist()):
        if c:
            bounds.append((ex, start, start + c))
        start += c

    def body():
        for ex, lo, hi in bounds:
            if dtype == "fp8":
                torch._scaled_mm(a[lo:hi], w[ex], scale_a=one, scale_b=one, out_dtype=BF16)
            else:
                torch.mm(a[lo:hi], w[ex])

    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        body()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        body()
    return g.replay


def experts_fn(a_gu, w_gu, a_d, w_d, counts, dtype, mode):
    offs = torch.cumsum(counts, 0).to(torch.int32).cuda()
    if mode == "grouped":
        if dtype == "fp8":
            sa_gu = torch.ones(a_gu.shape[0], device="cuda", dtype=torch.float32)
            sa_d = torch.ones(a_d.shape[0], device="cuda", dtype=torch.float32)
            sw_gu = torch.ones(w_gu.shape[0], w_gu.shape[2], device="cuda", dtype=torch.float32)
            sw_d = torch.ones(w_d.shape[0], w_d.shape[2], device="cuda", dtype=torch.float32)

            def fn():
                grouped_fp8(a_gu, w_gu, sa_gu, sw_gu, offs)
                grouped_fp8(a_d, w_d, sa_d, sw_d, offs)
        else:

            def fn():
                grouped_bf16(a_gu, w_gu, offs)
                grouped_bf16(a_d, w_d, offs)
        return fn
    g1 = make_loop_graph(a_gu, w_gu, counts, dtype)
    g2 = make_loop_graph(a_d, w_d, counts, dtype)

    def fn():
        g1()
        g2()
    return fn


def check(mode_by_dtype, out):
    """Grouped kernels vs a per-expert loop on a small case (rel. L2 error)."""
    torch.manual_seed(0)
    e, h, n, t = 8, 256, 128, 40
    counts = route(t, e, 2, 1)
    offs = torch.cumsum(counts, 0).to(torch.int32).cuda()
    a = torch.randn(int(counts.sum()), h, device="cuda", dtype=BF16)
    w = weights(e, n, h, "bf16")
    ref = torch.cat([a[lo:hi].float() @ w[i].float() for i, (lo, hi) in
                     enumerate(zip([0] + offs.tolist()[:-1], offs.tolist()))])
    for dtype in ("bf16", "fp8"):
        try:
            if dtype == "bf16":
                y = grouped_bf16(a, w, offs)
                r = ref
            else:
                a8, w8 = a.to(FP8), w.to(FP8)
                sa = torch.ones(a.shape[0], device="cuda", dtype=torch.float32)
                sw = torch.ones(e, n, device="cuda", dtype=torch.float32)
                y = grouped_fp8(a8, w8, sa, sw, offs)
                r = torch.cat([a8[lo:hi].float() @ w8[i].float() for i, (lo, hi) in
                               enumerate(zip([0] + offs.tolist()[:-1], offs.tolist()))])
            err = ((y.float() - r).norm() / r.norm()).item()
            ok = err < 2e-2
            out[f"grouped_{dtype}_rel_err"] = err
            mode_by_dtype[dtype] = "grouped" if ok else "loop"
            log(f"check grouped {dtype}: rel err {err:.2e} -> {mode_by_dtype[dtype]}")
        except Exception as ex:  # noqa: BLE001 - any failure means: use the loop
            mode_by_dtype[dtype] = "loop"
            out[f"grouped_{dtype}_error"] = str(ex).splitlines()[0][:200]
            log(f"check grouped {dtype}: unavailable ({str(ex).splitlines()[0][:160]}) -> loop")


def token_grid(max_t):
    t, v = 1, []
    while t <= max_t:
        v.append(t)
        t *= 2
    return v


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--tp", default="1,2,4,8")
    ap.add_argument("--max-tokens", type=int, default=16384)
    ap.add_argument("--deadline-s", type=float, default=240.0)
    args = ap.parse_args()
    t0 = time.time()
    timer = Timer(args.reps)
    doc = dict(gpu_name=torch.cuda.get_device_name(0), torch_version=torch.__version__,
               checks={}, notes=[], experts=[], gemm=[])
    modes = {}
    check(modes, doc["checks"])
    kernel = {("bf16", "grouped"): "torch-grouped-mm", ("fp8", "grouped"): "torch-scaled-grouped-mm",
              ("bf16", "loop"): "torch-mm-loop-graph", ("fp8", "loop"): "torch-scaled-mm-loop-graph"}

    def save():
        with open(args.out + ".tmp", "w") as f:
            json.dump(doc, f, indent=1)
        os.replace(args.out + ".tmp", args.out)

    grid = token_grid(args.max_tokens)
    for name in args.models.split(","):
        h, e, k, inter, shared = MODELS[name]
        for tp in [int(x) for x in args.tp.split(",")]:
            it, st = inter // tp, shared // tp
            for dtype in ("bf16", "fp8"):
                if time.time() - t0 > args.deadline_s:
                    doc["notes"].append(f"deadline: stopped before {name} tp{tp} {dtype}")
                    save()
                    return
                mode = modes[dtype]
                try:
                    w_gu = weights(e, 2 * it, h, dtype)
                    w_d = weights(e, h, it, dtype)
                    for t in grid:
                        counts = route(t, e, k, 1000 + t)
                        pairs = t * k
                        a_gu = torch.randn(pairs, h, device="cuda", dtype=BF16)
                        a_d = torch.randn(pairs, it, device="cuda", dtype=BF16)
                        if dtype == "fp8":
                            a_gu, a_d = a_gu.to(FP8), a_d.to(FP8)
                        fn = experts_fn(a_gu, w_gu, a_d, w_d, counts, dtype, mode)
                        sec = timer(fn)
                        flops = 2.0 * pairs * 3 * h * it
                        touched = int((counts > 0).sum())
                        doc["experts"].append(dict(
                            hidden=h, inter=it, experts=e, top_k=k, dtype=dtype, tokens=t,
                            touched=touched, seconds=sec, kernel=kernel[(dtype, mode)],
                            label=f"{name}/tp{tp}"))
                        log(f"{name} tp{tp} {dtype} T={t}: {sec*1e6:.1f} us "
                            f"{flops/sec/1e12:.0f} TFLOP/s, {touched} experts")
                        del a_gu, a_d, fn
                    del w_gu, w_d
                except Exception as ex:  # noqa: BLE001 - record and go on
                    doc["notes"].append(f"{name} tp{tp} {dtype}: failed: {str(ex).splitlines()[0][:200]}")
                    log(doc["notes"][-1])
                torch.cuda.empty_cache()
                save()
            # Router (bf16, once per model) and shared experts.
            lin = []
            if tp == 1:
                lin.append(("router", e, h, "bf16"))
            if st:
                for dt in ("bf16", "fp8"):
                    lin.append(("shared_gate_up", 2 * st, h, dt))
                    lin.append(("shared_down", h, st, dt))
            for lab, n, kk, dt in lin:
                try:
                    w = torch.randn(n, kk, device="cuda", dtype=BF16) * (kk ** -0.5)
                    one = torch.ones((), device="cuda", dtype=torch.float32)
                    if dt == "fp8":
                        w = w.to(FP8)
                    for t in grid:
                        x = torch.randn(t, kk, device="cuda", dtype=BF16)
                        if dt == "fp8":
                            x = x.to(FP8)
                            fn = (lambda x=x: torch._scaled_mm(x, w.t(), scale_a=one, scale_b=one,
                                                                 out_dtype=BF16))
                        else:
                            fn = (lambda x=x: F.linear(x, w))
                        sec = timer(fn)
                        doc["gemm"].append(dict(m=t, n=n, k=kk, dtype=dt, seconds=sec,
                                                label=f"{name}/tp{tp}/{lab} (torch)"))
                    log(f"{name} tp{tp} {lab} {dt}: T=1 {doc['gemm'][-len(grid)]['seconds']*1e6:.1f} us, "
                        f"T={grid[-1]} {sec*1e6:.1f} us")
                    del w
                except Exception as ex:  # noqa: BLE001
                    doc["notes"].append(f"{name} tp{tp} {lab} {dt}: failed: {str(ex).splitlines()[0][:200]}")
                    log(doc["notes"][-1])
                save()
    doc["notes"].append(f"took {time.time() - t0:.0f} s")
    save()


if __name__ == "__main__":
    main()
