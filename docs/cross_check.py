#!/usr/bin/env python3
"""Cross-check our shipped H100/H200 profiles against AIConfigurator's perf database and
Vidur's published profiles, on identical shapes. Prints the Markdown tables of
docs/cross-check.md.

Usage (from the repository root; needs pyarrow, not needed by the build or CI):
    python3 docs/cross_check.py [--aic ../shared/reference/aiconfigurator-perf]
                                [--vidur ../shared/reference/vidur-profiles]

Every ratio is A / B of median seconds of one call at the same shape (no interpolation),
except the all-reduce rows against Vidur, whose message sizes (2 KiB + k * 8 KiB) rarely
hit a power of two: there the reference is interpolated log-log between its two
bracketing sizes (said in the table).
"""
import argparse
import bisect
import csv
import json
import math
from collections import defaultdict

import pyarrow.parquet as pq

BACKENDS = {
    # backend: (version, bf16 GEMM kernel, per-tensor fp8 GEMM kernel, attention kernel)
    "sglang": ("0.5.14", "sglang_torch_linear", "sglang_sgl_kernel_fp8_scaled_mm", "fa3"),
    "vllm": ("0.24.0", "torch.nn.functional.linear", "CutlassFP8ScaledMMLinearKernel", "vllm_flash_attn_fa3"),
    "trtllm": ("1.3.0rc20", "torch_flow", "torch_flow", "torch_flow"),
}
NCCL = "2.29.2"
GPUS = {"h100": "h100_sxm", "h200": "h200_sxm"}


def rows(path, cols):
    t = pq.read_table(path, columns=cols)
    return t.to_pylist()


def q(v, f):
    v = sorted(v)
    return v[min(len(v) - 1, int(f * len(v)))]


def stat(v):
    """count, median, p10, p90 as a table cell."""
    if not v:
        return "–"
    return f"{q(v, 0.5):.2f} ({q(v, 0.1):.2f}–{q(v, 0.9):.2f}, n={len(v)})"


def bucket(m):
    return "m ≤ 64" if m <= 64 else ("65–1024" if m <= 1024 else "> 1024")


def aic_gemm(aic, gpu, backend):
    ver, k16, k8, _ = BACKENDS[backend]
    out = {}
    for r in rows(f"{aic}/{GPUS[gpu]}/gemm/{backend}/{ver}/gemm_perf.parquet",
                  ["kernel_source", "gemm_dtype", "m", "n", "k", "latency"]):
        if r["kernel_source"] == k16 and r["gemm_dtype"] == "bfloat16":
            d = "bf16"
        elif r["kernel_source"] == k8 and r["gemm_dtype"] == "fp8":
            d = "fp8"
        else:
            continue
        key = (d, r["m"], r["n"], r["k"])
        s = r["latency"] / 1e3
        out[key] = min(s, out.get(key, s))
    return out


def aic_attn(aic, gpu, backend):
    ver, _, _, kern = BACKENDS[backend]
    cols = ["kernel_source", "batch_size", "isl", "num_heads", "num_key_value_heads", "head_dim",
            "attn_dtype", "kv_cache_dtype", "step", "window_size", "latency"]
    base = f"{aic}/{GPUS[gpu]}/attention/{backend}/{ver}"
    ctx, gen = {}, {}
    for r in rows(f"{base}/context_attention_perf.parquet", cols):
        if (r["kernel_source"] == kern and r["attn_dtype"] == "bfloat16" and r["kv_cache_dtype"] == "bfloat16"
                and r["window_size"] == 0 and r["step"] == 0 and r["head_dim"] == 128):
            ctx[(r["batch_size"], r["isl"], r["num_heads"], r["num_key_value_heads"])] = r["latency"] / 1e3
    for r in rows(f"{base}/generation_attention_perf.parquet", cols):
        if (r["kernel_source"] == kern and r["kv_cache_dtype"] == "bfloat16" and r["window_size"] == 0
                and r["head_dim"] == 128):
            gen[(r["batch_size"], r["isl"] + r["step"], r["num_heads"], r["num_key_value_heads"])] = r["latency"] / 1e3
    return ctx, gen


def aic_nccl(aic, gpu):
    out = defaultdict(dict)
    for r in rows(f"{aic}/{GPUS[gpu]}/comm/nccl/{NCCL}/nccl_perf.parquet",
                  ["op_name", "nccl_dtype", "num_gpus", "message_size", "latency"]):
        if r["op_name"] == "all_reduce" and r["nccl_dtype"] == "half":
            out[r["num_gpus"]][r["message_size"] * 2] = r["latency"] / 1e3
    return out


def loglog(curve, x):
    """Interpolate {bytes: seconds} log-log at x; None outside the range."""
    xs = sorted(curve)
    if not xs or x < xs[0] or x > xs[-1]:
        return None
    i = bisect.bisect_left(xs, x)
    if xs[i] == x:
        return curve[x]
    a, b = xs[i - 1], xs[i]
    t = (math.log(x) - math.log(a)) / (math.log(b) - math.log(a))
    return math.exp(math.log(curve[a]) + t * (math.log(curve[b]) - math.log(curve[a])))


def ours_vs_aic(prof, aic, gpu):
    print(f"\n### {gpu.upper()}: ours / AIConfigurator (median, p10–p90, matching shapes)\n")
    print("| family | " + " | ".join(f"vs {b}" for b in BACKENDS) + " |")
    print("|---|" + "---|" * len(BACKENDS))
    table = defaultdict(dict)
    for b in BACKENDS:
        g = aic_gemm(aic, gpu, b)
        for d in ("bf16", "fp8"):
            by = defaultdict(list)
            for r in prof["gemm"]:
                key = (r["dtype"], r["m"], r["n"], r["k"])
                if r["dtype"] == d and key in g:
                    by[bucket(r["m"])].append(r["seconds"] / g[key])
            for bk in ("m ≤ 64", "65–1024", "> 1024"):
                table[f"{d} GEMM, {bk}"][b] = stat(by[bk])
        ctx, gen = aic_attn(aic, gpu, b)
        pre = defaultdict(list)
        for r in prof["attention_prefill"]:
            k = (r["batch"], r["new_tokens"], r["heads"], r["kv_heads"])
            if r["context"] == 0 and r["head_dim"] == 128 and k in ctx:
                pre[r["kernel"]].append(r["seconds"] / ctx[k])
        for kern in sorted(pre):
            table[f"prefill attention, ours `{kern}`"][b] = stat(pre[kern])
        dec = []
        for r in prof["attention_decode"]:
            if r["head_dim"] != 128 or r["kv_dtype"] != "bf16":
                continue
            k = (r["batch"], r["context"], r["heads"], r["kv_heads"])
            if k in gen:
                dec.append(r["seconds"] / gen[k])
        table["decode attention, ours `xpyd-nvrtc`"][b] = stat(dec)
    nccl = aic_nccl(aic, gpu)
    for gpus in (2, 4, 8):
        v = [r["seconds"] / nccl[gpus][r["bytes"]] for r in prof["allreduce"]
             if r["gpus"] == gpus and r["bytes"] in nccl.get(gpus, {})]
        small = [x for r, x in zip([r for r in prof["allreduce"] if r["gpus"] == gpus and r["bytes"] in nccl.get(gpus, {})], v)
                 if r["bytes"] < 1 << 20]
        large = [x for r, x in zip([r for r in prof["allreduce"] if r["gpus"] == gpus and r["bytes"] in nccl.get(gpus, {})], v)
                 if r["bytes"] >= 4 << 20]
        cell_s = stat(small)
        cell_l = stat(large)
        for b in BACKENDS:
            table[f"all-reduce {gpus} GPUs, < 1 MiB (NCCL {NCCL})"][b] = cell_s
            table[f"all-reduce {gpus} GPUs, ≥ 4 MiB (NCCL {NCCL})"][b] = cell_l
    for fam, cells in table.items():
        print(f"| {fam} | " + " | ".join(cells.get(b, "–") for b in BACKENDS) + " |")


def vidur_gemm_shapes(row, op):
    h, kv = int(row["n_head"]), int(row["n_kv_head"])
    e, ff = int(row["n_embd"]), int(row["n_expanded_embd"])
    tp = int(row["num_tensor_parallel_workers"])
    hd = e // h
    gated = row["use_gated_mlp"].strip().lower() in ("true", "1")
    return {
        "attn_pre_proj": ((h + 2 * kv) * hd // tp, e),
        "attn_post_proj": (e, h * hd // tp),
        "mlp_up_proj": ((2 if gated else 1) * ff // tp, e),
        "mlp_down_proj": (e, ff // tp),
    }[op]


def vidur(profs, aic, vdir):
    ops = ["attn_pre_proj", "attn_post_proj", "mlp_up_proj", "mlp_down_proj"]
    aic_h100 = aic_gemm(aic, "h100", "sglang")
    ours = {(r["m"], r["n"], r["k"]): r["seconds"] for r in profs["h100"]["gemm"] if r["dtype"] == "bf16"}
    print("\n### Vidur H100 GEMMs (`mlp.csv`, median of one layer's op) vs ours and AIConfigurator (H100, bf16)\n")
    print("| Vidur file | op | ours / Vidur | AIC SGLang / Vidur |")
    print("|---|---|---|---|")
    for model in ("Llama-2-7b-hf", "Llama-2-70b-hf"):
        path = f"{vdir}/compute/h100/meta-llama/{model}/mlp.csv"
        data = list(csv.DictReader(open(path)))
        for op in ops:
            ro, ra = [], []
            for r in data:
                m = int(r["num_tokens"])
                n, k = vidur_gemm_shapes(r, op)
                v = float(r[f"time_stats.{op}.median"]) / 1e3
                if v <= 0:
                    continue
                if (m, n, k) in ours:
                    ro.append(ours[(m, n, k)] / v)
                if ("bf16", m, n, k) in aic_h100:
                    ra.append(aic_h100[("bf16", m, n, k)] / v)
            print(f"| h100 {model} | {op} | {stat(ro)} | {stat(ra)} |")
    # All-reduce: Vidur 8xH100 DGX, rows with num_workers == devices_per_node; median over ranks.
    by = defaultdict(list)
    for r in csv.DictReader(open(f"{vdir}/network/h100_dgx/all_reduce.csv")):
        if r["num_workers"] == r["devices_per_node"]:
            by[(int(r["num_workers"]), int(r["size"]))].append(float(r["time_stats.all_reduce.median"]) / 1e3)
    vid = {k: q(v, 0.5) for k, v in by.items()}
    nccl = {g: aic_nccl(aic, g) for g in GPUS}
    our200 = defaultdict(dict)
    for r in profs["h200"]["allreduce"]:
        our200[r["gpus"]][r["bytes"]] = r["seconds"]
    print("\n### Vidur all-reduce (8×H100 DGX, `all_reduce.csv`) vs AIConfigurator NCCL and ours "
          "(reference interpolated log-log at Vidur's sizes)\n")
    print("| GPUs | size | AIC H100 / Vidur | AIC H200 / Vidur | ours H200 / Vidur |")
    print("|---|---|---|---|---|")
    for gpus in (2, 4, 8):
        for lo, hi, name in [(0, 1 << 20, "< 1 MiB"), (1 << 20, 1 << 40, "≥ 1 MiB")]:
            cells = []
            for curve in (nccl["h100"].get(gpus, {}), nccl["h200"].get(gpus, {}), our200.get(gpus, {})):
                v = []
                for (g, size), t in vid.items():
                    if g == gpus and lo <= size < hi:
                        ref = loglog(curve, size)
                        if ref is not None and t > 0:
                            v.append(ref / t)
                cells.append(stat(v))
            print(f"| {gpus} | {name} | " + " | ".join(cells) + " |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--aic", default="../shared/reference/aiconfigurator-perf")
    ap.add_argument("--vidur", default="../shared/reference/vidur-profiles")
    ap.add_argument("--profiles", default="models/profiles")
    a = ap.parse_args()
    profs = {g: json.load(open(f"{a.profiles}/{g}.json")) for g in GPUS}
    for g in GPUS:
        ours_vs_aic(profs[g], a.aic, g)
    vidur(profs, a.aic, a.vidur)


if __name__ == "__main__":
    main()
