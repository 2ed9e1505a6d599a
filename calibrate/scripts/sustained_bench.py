#!/usr/bin/env python3
"""Time a stack of transformer-layer GEMMs replayed back to back for over a second (the
GPU at its power limit, as in a sustained prefill forward pass) and write JSON that
`xpyd-calibrate merge-sustained` compares with the profile's isolated GEMM timings.

The stack: Llama-3.1-8B's QKV (6144x4096), O (4096x4096), gate/up (28672x4096) and down
(4096x14336) projections, bf16, for all 32 layers (14 GiB of weights: every GEMM reads
its weight from HBM), captured once in a CUDA graph per M (tokens) and replayed back to
back for at least --seconds. Each replay is timed with CUDA events; the row is the median
of the replays in the second half of the window, with the median NVML SM clock and
board power over the same half.

With --attention, the same for prefill attention: 32 calls of cuDNN SDPA (causal, 32
query / 8 KV heads, head_dim 128, batch 1, bf16) per graph at 256 ... 16384 tokens; rows
under `attention` give seconds per call. --attention-only skips the GEMM stacks.

Usage: python3 sustained_bench.py OUT.json [--seconds 1.2] [--max-m 16384] [--attention] [--attention-only]
"""
import argparse
import json
import os
import statistics
import threading
import time

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

SHAPES = [(6144, 4096, "qkv"), (4096, 4096, "o"), (28672, 4096, "gate_up"), (4096, 14336, "down")]
LAYERS = 32


def log(*a):
    print(*a, flush=True)


def nvml():
    try:
        import pynvml

        pynvml.nvmlInit()
        h = pynvml.nvmlDeviceGetHandleByIndex(0)
        return lambda: (pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_SM),
                        pynvml.nvmlDeviceGetPowerUsage(h) / 1000.0)
    except Exception as ex:  # noqa: BLE001
        log(f"nvml unavailable: {ex}")
        return None


def sustain(fn, seconds, read):
    """Capture fn in a graph, replay it back to back for `seconds`; median replay of the
    second half, with the median SM clock and power over it."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        fn()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        fn()
    ev, samples, stop = [], [], threading.Event()

    def poll():
        while not stop.is_set():
            samples.append((time.time(), *read()))
            time.sleep(0.005)

    th = threading.Thread(target=poll) if read else None
    torch.cuda.synchronize()
    t1 = time.time()
    if th:
        th.start()
    while time.time() - t1 < seconds or len(ev) < 6:
        batch = []
        for _ in range(8):
            st, en = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            st.record()
            g.replay()
            en.record()
            batch.append((st, en))
        en.synchronize()
        ev.extend(batch)
    t2 = time.time()
    if th:
        stop.set()
        th.join()
    times = [st.elapsed_time(en) * 1e-3 for st, en in ev]
    row = dict(replay_s=statistics.median(times[len(times) // 2:]), first_s=times[0], replays=len(times))
    late = [x for x in samples if x[0] >= (t1 + t2) / 2]
    if late:
        row["sm_mhz"] = statistics.median(x[1] for x in late)
        row["power_w"] = statistics.median(x[2] for x in late)
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seconds", type=float, default=1.2)
    ap.add_argument("--max-m", type=int, default=16384)
    ap.add_argument("--attention", action="store_true")
    ap.add_argument("--attention-only", action="store_true")
    a = ap.parse_args()
    t0 = time.time()
    read = nvml()
    rows, att = [], []
    w = [] if a.attention_only else [
        [torch.randn(n, k, device="cuda", dtype=torch.bfloat16) * k ** -0.5 for n, k, _ in SHAPES]
        for _ in range(LAYERS)]
    m = a.max_m + 1 if a.attention_only else 1
    with torch.no_grad():
        while m <= a.max_m:
            xs = {k: torch.randn(m, k, device="cuda", dtype=torch.bfloat16) for _, k, _ in SHAPES}

            def stack():
                for layer in w:
                    for wt, (_, k, _) in zip(layer, SHAPES):
                        F.linear(xs[k], wt)

            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                stack()
            torch.cuda.current_stream().wait_stream(s)
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g):
                stack()
            ev = []
            samples, stop = [], threading.Event()

            def poll():
                while not stop.is_set():
                    samples.append((time.time(), *read()))
                    time.sleep(0.005)

            th = threading.Thread(target=poll) if read else None
            torch.cuda.synchronize()
            t1 = time.time()
            if th:
                th.start()
            while time.time() - t1 < a.seconds or len(ev) < 6:
                batch = []
                for _ in range(8):
                    st, en = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    st.record()
                    g.replay()
                    en.record()
                    batch.append((st, en))
                en.synchronize()
                ev.extend(batch)
            t2 = time.time()
            if th:
                stop.set()
                th.join()
            times = [st.elapsed_time(en) * 1e-3 for st, en in ev]
            half = times[len(times) // 2:]
            row = dict(m=m, layers=LAYERS, shapes=[[n, k] for n, k, _ in SHAPES],
                       sequence_s=statistics.median(half), first_s=times[0], replays=len(times))
            late = [x for x in samples if x[0] >= (t1 + t2) / 2]
            if late:
                row["sm_mhz"] = statistics.median(x[1] for x in late)
                row["power_w"] = statistics.median(x[2] for x in late)
            rows.append(row)
            log(json.dumps(row))
            del g, xs
            m *= 2
        del w
        torch.cuda.empty_cache()
        for n in ([256, 512, 1024, 2048, 4096, 8192, 16384] if a.attention or a.attention_only else []):
            q = torch.randn(1, 32, n, 128, device="cuda", dtype=torch.bfloat16)
            kv = torch.randn(1, 8, n, 128, device="cuda", dtype=torch.bfloat16)

            def calls():
                with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
                    for _ in range(LAYERS):
                        F.scaled_dot_product_attention(q, kv, kv, is_causal=True, enable_gqa=True)

            r = sustain(calls, a.seconds, read)
            r.update(batch=1, new_tokens=n, heads=32, kv_heads=8, head_dim=128, kernel="torch-sdpa-cudnn",
                     calls=LAYERS)
            r["sequence_s"] = r.pop("replay_s") / LAYERS
            att.append(r)
            log(json.dumps(r))
    doc = dict(gpu_name=torch.cuda.get_device_name(0), torch_version=torch.__version__, rows=rows,
               attention=att, took_s=time.time() - t0)
    with open(a.out + ".tmp", "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(a.out + ".tmp", a.out)


if __name__ == "__main__":
    main()
