#!/usr/bin/env python3
"""Cross-check shipped xpyd profiles against the aiconfigurator perf database subset.

Usage: python3 crosscheck_aic.py PROFILE.json AIC_DIR (e.g. .../aiconfigurator-perf/h200_sxm)
Needs pyarrow. Prints, for matching shapes, our seconds next to aiconfigurator's (SGLang
0.5.14 collections: torch linear for bf16 GEMM, sgl-kernel fp8_scaled_mm for per-tensor
fp8, FA3 for attention; NCCL 2.29.2 for all-reduce) and the ratio ours / theirs.
"""
import json
import sys

import pyarrow.parquet as pq


def load(p):
    return pq.read_table(p).to_pylist()


def main():
    prof = json.load(open(sys.argv[1]))
    aic = sys.argv[2]
    print(f"# {prof['header']['gpu_name']} vs aiconfigurator {aic}")
    gemm = load(f"{aic}/gemm/sglang/0.5.14/gemm_perf.parquet")
    ref = {}
    for r in gemm:
        if r["kernel_source"] == "sglang_torch_linear" and r["gemm_dtype"] == "bfloat16":
            ref[("bf16", r["m"], r["n"], r["k"])] = r["latency"] * 1e-3
        if r["kernel_source"] == "sglang_sgl_kernel_fp8_scaled_mm" and r["gemm_dtype"] == "fp8":
            ref[("fp8", r["m"], r["n"], r["k"])] = r["latency"] * 1e-3
    ratios = {"bf16": [], "fp8": []}
    shown = 0
    for r in prof["gemm"]:
        key = (r["dtype"], r["m"], r["n"], r["k"])
        if key in ref:
            q = r["seconds"] / ref[key]
            ratios[r["dtype"]].append((r["m"], q))
            if r["m"] in (1, 64, 1024, 8192) and shown < 24 and r["n"] in (4096, 8192, 5120, 6144, 28672):
                shown += 1
                print(f"gemm {r['dtype']:4} m={r['m']:5} n={r['n']:6} k={r['k']:6}: ours {r['seconds']*1e6:9.1f} us"
                      f"  aic {ref[key]*1e6:9.1f} us  ratio {q:.2f}")
    for dt, v in ratios.items():
        if not v:
            continue
        for lo, hi in [(1, 64), (65, 1024), (1025, 16384)]:
            qs = sorted(q for m, q in v if lo <= m <= hi)
            if qs:
                print(f"SUMMARY gemm {dt} m in [{lo},{hi}]: {len(qs)} matching shapes, ours/aic median {qs[len(qs)//2]:.2f}"
                      f" (p10 {qs[len(qs)//10]:.2f}, p90 {qs[9*len(qs)//10]:.2f})")
    ctx = load(f"{aic}/attention/sglang/0.5.14/context_attention_perf.parquet")
    cref = {}
    for r in ctx:
        if (r["kernel_source"] == "fa3" and r["attn_dtype"] == "bfloat16" and r["kv_cache_dtype"] == "bfloat16"
                and r["window_size"] == 0 and r["head_dim"] == 128):
            cref[(r["batch_size"], r["isl"], r["num_heads"], r["num_key_value_heads"])] = r["latency"] * 1e-3
    pre = {}
    for r in prof["attention_prefill"]:
        k = (r["batch"], r["new_tokens"], r["heads"], r["kv_heads"])
        if r["context"] == 0 and k in cref:
            pre.setdefault(r["kernel"], []).append(r["seconds"] / cref[k])
            print(f"prefill {r['kernel']:10} b={k[0]} n={k[1]:5} h={k[2]}/{k[3]}: ours {r['seconds']*1e6:8.1f} us"
                  f"  fa3 {cref[k]*1e6:8.1f} us  ratio {r['seconds']/cref[k]:.2f}")
    for kern, qs in sorted(pre.items()):
        qs.sort()
        print(f"SUMMARY prefill {kern}: {len(qs)} shapes, ours/fa3 median {qs[len(qs)//2]:.2f} "
              f"(min {qs[0]:.2f}, max {qs[-1]:.2f})")
    gen = load(f"{aic}/attention/sglang/0.5.14/generation_attention_perf.parquet")
    gref = {}
    for r in gen:
        if (r["kernel_source"] == "fa3" and r["kv_cache_dtype"] == "bfloat16" and r["window_size"] == 0
                and r["head_dim"] == 128):
            gref[(r["batch_size"], r["isl"] + r["step"], r["num_heads"], r["num_key_value_heads"])] = r["latency"] * 1e-3
    dec = []
    for r in prof["attention_decode"]:
        for kv in (r["context"], r["context"] + 1, r["context"] - 1):
            k = (r["batch"], kv, r["heads"], r["kv_heads"])
            if k in gref:
                dec.append(r["seconds"] / gref[k])
                print(f"decode b={k[0]:3} kv={k[1]:5} h={k[2]}/{k[3]}: ours {r['seconds']*1e6:8.1f} us"
                      f"  fa3 {gref[k]*1e6:8.1f} us  ratio {r['seconds']/gref[k]:.2f}")
                break
    if dec:
        dec.sort()
        print(f"SUMMARY decode xpyd-nvrtc: {len(dec)} shapes, ours/fa3 median {dec[len(dec)//2]:.2f} "
              f"(min {dec[0]:.2f}, max {dec[-1]:.2f})")
    try:
        nccl = load(f"{aic}/comm/nccl/2.29.2/nccl_perf.parquet")
    except OSError:
        nccl = []
    nref = {(r["num_gpus"], r["message_size"] * 2): r["latency"] * 1e-3 for r in nccl
            if r["op_name"] == "all_reduce" and r["nccl_dtype"] == "half"}
    for r in prof["allreduce"]:
        k = (r["gpus"], r["bytes"])
        if k in nref:
            print(f"allreduce g={k[0]} bytes={k[1]:11}: ours {r['seconds']*1e6:8.1f} us  nccl-tests {nref[k]*1e6:8.1f} us"
                  f"  ratio {r['seconds']/nref[k]:.2f}")


if __name__ == "__main__":
    main()
