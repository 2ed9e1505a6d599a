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

Usage: python3 sustained_bench.py OUT.json [--seconds 1.2] [--max-m 16384]
"""
import argparse
import json
import os
import statistics
import threading
import time

import torch
import torch.nn.functional as F

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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seconds", type=float, default=1.2)
    ap.add_argument("--max-m", type=int, default=16384)
    a = ap.parse_args()
    t0 = time.time()
    read = nvml()
    w = [[torch.randn(n, k, device="cuda", dtype=torch.bfloat16) * k ** -0.5 for n, k, _ in SHAPES]
         for _ in range(LAYERS)]
    rows = []
    m = 1
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
    doc = dict(gpu_name=torch.cuda.get_device_name(0), torch_version=torch.__version__, rows=rows,
               took_s=time.time() - t0)
    with open(a.out + ".tmp", "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(a.out + ".tmp", a.out)


if __name__ == "__main__":
    main()
