#!/usr/bin/env python3
"""Where does a prefill forward pass spend its time? Decomposes the forward passes of
`forward_bench.py` (same model code, TP 1, bf16, CUDA graphs) into parts and times each
part both inside a sustained layer sequence and alone, to explain why calibrated prefill
predictions run fast.

Per (model, batch 1, tokens):
- `full_ms`: the whole prefill forward (as forward_bench.py).
- `gemm_seq_ms`: only the projection GEMMs (QKV, O, gate/up, down of every layer, then
  lm_head over the last token), back to back in one CUDA graph.
- `gemm_iso_ms`: the same GEMMs timed one call at a time with a cold L2 (a 256 MiB buffer
  zeroed, then a GPU-side sleep, then CUDA events), summed over layers: what the
  calibration profile does.
- `attn_seq_ms`: only the attention calls (SDPA, causal, GQA) of every layer in one graph;
  `attn_iso_ms`: one call alone times layers.
- `rest_ms` = full - gemm_seq - attn_seq: norms, rotary, residual adds, SiLU-mul, copies.
- `sm_mhz_*`, `power_w_sustained`: NVML readings idle and while full forwards replay
  back to back for about 1.5 s (sampled every 5 ms from a thread; median).

With --fused the full forward uses forward_bench.py's torch.compile'd glue kernels.

Usage: python3 prefill_probe.py OUT.json [--models llama-3.1-8b,qwen3-8b] [--tokens 512,2048,8192] [--fused]
"""
import argparse
import json
import os
import statistics
import sys
import threading
import time

import torch
import torch.nn.functional as F
from torch.nn.attention import sdpa_kernel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import forward_bench as fb  # noqa: E402


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


def graph(fn):
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(2):
            fn()
    torch.cuda.current_stream().wait_stream(s)
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        fn()
    return g


def time_replay(g, reps=5):
    st, en = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for _ in range(2):
        g.replay()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        torch.cuda._sleep(200_000)
        st.record()
        g.replay()
        en.record()
        en.synchronize()
        ts.append(st.elapsed_time(en))
    return statistics.median(ts)


FLUSH = None


def time_cold(fn, reps=5):
    global FLUSH
    if FLUSH is None:
        FLUSH = torch.empty(256 << 20, dtype=torch.uint8, device="cuda")
    st, en = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for _ in range(2):
        fn()
    ts = []
    for _ in range(reps):
        FLUSH.zero_()
        torch.cuda._sleep(200_000)
        st.record()
        fn()
        en.record()
        en.synchronize()
        ts.append(st.elapsed_time(en))
    return statistics.median(ts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--models", default="llama-3.1-8b,qwen3-8b")
    ap.add_argument("--tokens", default="512,2048,8192")
    ap.add_argument("--fused", action="store_true", help="forward_bench.py --fused glue")
    a = ap.parse_args()
    fb.FUSED = a.fused
    t0 = time.time()
    fb.pick_backends()
    read = nvml()
    rows = []
    doc = dict(gpu_name=torch.cuda.get_device_name(0), torch_version=torch.__version__, fused=a.fused, rows=rows)
    with torch.no_grad():
        for name in a.models.split(","):
            m = fb.Model(name)
            h, nh, nkv, hd, inter, L = m.h, m.nh, m.nkv, m.hd, m.inter, m.layers
            for s in [int(x) for x in a.tokens.split(",")]:
                x = torch.randn(s, h, device="cuda", dtype=fb.DT)
                att = torch.randn(s, nh * hd, device="cuda", dtype=fb.DT)
                act = torch.randn(s, inter, device="cuda", dtype=fb.DT)
                last = torch.randn(1, h, device="cuda", dtype=fb.DT)
                q = torch.randn(1, nh, s, hd, device="cuda", dtype=fb.DT)
                k = torch.randn(1, nkv, s, hd, device="cuda", dtype=fb.DT)
                v = torch.randn(1, nkv, s, hd, device="cuda", dtype=fb.DT)

                def gemms():
                    for i in range(L):
                        F.linear(x, m.wqkv[i])
                        F.linear(att, m.wo[i])
                        F.linear(x, m.wgu[i])
                        F.linear(act, m.wd[i])
                    F.linear(last, m.lm)

                def attn1():
                    with sdpa_kernel(fb.PREFILL_BACKENDS):
                        return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)

                def attns():
                    for _ in range(L):
                        attn1()

                g_full = graph(lambda: m.prefill(x, 1, s))
                full = time_replay(g_full)
                gseq = time_replay(graph(gemms))
                aseq = time_replay(graph(attns))
                iso = L * (time_cold(lambda: F.linear(x, m.wqkv[0])) + time_cold(lambda: F.linear(att, m.wo[0]))
                           + time_cold(lambda: F.linear(x, m.wgu[0])) + time_cold(lambda: F.linear(act, m.wd[0])))
                iso += time_cold(lambda: F.linear(last, m.lm))
                aiso = L * time_cold(attn1)
                row = dict(model=name, batch=1, tokens=s, full_ms=full, gemm_seq_ms=gseq, gemm_iso_ms=iso,
                           attn_seq_ms=aseq, attn_iso_ms=aiso, rest_ms=full - gseq - aseq)
                if read:
                    torch.cuda.synchronize()
                    time.sleep(0.5)
                    row["sm_mhz_idle"], row["power_w_idle"] = read()
                    samples, stop = [], threading.Event()

                    def poll():
                        while not stop.is_set():
                            samples.append(read())
                            time.sleep(0.005)

                    th = threading.Thread(target=poll)
                    th.start()
                    t1 = time.time()
                    while time.time() - t1 < 1.5:
                        for _ in range(3):
                            g_full.replay()
                        torch.cuda.synchronize()
                    stop.set()
                    th.join()
                    tail = samples[len(samples) // 3:] or samples
                    row["sm_mhz_sustained"] = statistics.median(c for c, _ in tail)
                    row["power_w_sustained"] = statistics.median(p for _, p in tail)
                rows.append(row)
                log(json.dumps(row))
                del g_full
                torch.cuda.empty_cache()
            del m
            torch.cuda.empty_cache()
    doc["took_s"] = time.time() - t0
    with open(a.out + ".tmp", "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(a.out + ".tmp", a.out)


if __name__ == "__main__":
    main()
