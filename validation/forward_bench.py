#!/usr/bin/env python3
"""Time real forward passes of catalog architectures on one GPU and write a step CSV
that `xpyd validate --steps FILE.csv` reads.

What runs: a PyTorch decoder with the model's real layer shapes and random BF16 weights
(TP 1): per layer a fused-QKV `F.linear`, rotary embedding, (Qwen3: per-head q/k
RMSNorm), `F.scaled_dot_product_attention` (causal, GQA through `enable_gqa`), the O
projection, residual adds, `F.rms_norm`, the gate/up projection, SiLU-and-mul and the down
projection; then the final norm, lm_head over the last token of every sequence and
argmax. Decode writes the new token's K/V into a per-layer cache and attends over
`context` cached tokens (the new one included).

Timing: every step (prefill and decode) is captured once in a CUDA graph and replayed,
so the times are GPU time of the forward pass without Python dispatch or an engine's
scheduler (compare with `xpyd validate --gpu-only`). Each row is the median of `reps`
replays timed with CUDA events after a GPU-side sleep, after 2 warm-up replays.

Attention kernels: prefill prefers cuDNN's attention (Hopper wgmma kernels, like
FlashAttention-3 in engines) then FlashAttention-2; decode prefers FlashAttention-2
then cuDNN. The backend actually used is printed to the log.

Output: `model,gpu,tp,phase,batch,tokens,context,ms` rows (phase `prefill`: `batch`
sequences of `tokens` new tokens after `context` cached ones; `decode`: `batch`
sequences at `context` tokens, tokens = 1). Rows are appended as they finish, so a run
cut short still leaves every finished row. Shapes whose KV cache does not fit in free
GPU memory are skipped (and logged).

With --fused, the glue between GEMMs and attention (residual add + RMSNorm, QKV split +
q/k norm + rotary + layout, SiLU-and-mul) is compiled by torch.compile into fused kernels
(see FUSED); GEMM and attention calls are unchanged.

Usage: python3 forward_bench.py OUT.csv [--models a,b] [--reps N] [--kv-budget-gib G] [--fused] [--prefill-only]
"""
import argparse
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

# Catalog shapes (models/src/arch.rs, from each model's Hugging Face config.json):
# hidden, layers, heads, kv_heads, head_dim, intermediate, vocab, qk_norm.
ARCH = {
    "llama-3.1-8b": (4096, 32, 32, 8, 128, 14336, 128256, False),
    "qwen3-8b": (4096, 36, 32, 8, 128, 12288, 151936, True),
    "qwen3-32b": (5120, 64, 64, 8, 128, 25600, 151936, True),
}

PREFILL = [(1, n) for n in (128, 256, 512, 1024, 2048, 4096, 8192)] + [(4, 512), (4, 2048)]
DECODE_BATCHES = (1, 8, 32, 64, 128, 256)
DECODE_CONTEXTS = (1024, 2048, 4096, 8192)

DT = torch.bfloat16

# `--fused`: the glue between GEMMs and attention compiled by torch.compile (Inductor
# Triton kernels), as vLLM compiles its models and as engines' custom kernels fuse it:
# residual add + RMSNorm in one kernel, the QKV split + (Qwen3) q/k norm + rotary + layout
# in one, SiLU-and-mul in one. GEMMs and attention are the same calls as without it.
FUSED = False


def _add_rms(res, y, w):
    r = res + y
    return r, F.rms_norm(r, (r.shape[-1],), w, 1e-6)


def _prep(qkv, cos, sin, qn, kn, nh, nkv, qk_norm: bool):
    b, s, _, hd = qkv.shape
    q, k, v = qkv.split([nh, nkv, nkv], dim=2)
    if qk_norm:
        q = F.rms_norm(q, (hd,), qn, 1e-6)
        k = F.rms_norm(k, (hd,), kn, 1e-6)
    q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
    d = hd // 2

    def rope(x):
        rot = torch.cat([-x[..., d:], x[..., :d]], dim=-1)
        return x * cos + rot * sin

    return rope(q).contiguous(), rope(k).contiguous(), v.contiguous()


def _silu_mul(gu):
    g, u = gu.chunk(2, dim=-1)
    return F.silu(g) * u


add_rms = torch.compile(_add_rms, dynamic=True)
prep = torch.compile(_prep, dynamic=True)
silu_mul = torch.compile(_silu_mul, dynamic=True)


def log(*a):
    print(*a, flush=True)


class Model:
    def __init__(self, name):
        h, layers, nh, nkv, hd, inter, vocab, qk_norm = ARCH[name]
        self.name, self.h, self.layers, self.nh, self.nkv, self.hd = name, h, layers, nh, nkv, hd
        self.inter, self.vocab, self.qk_norm = inter, vocab, qk_norm
        dev = "cuda"

        def w(n, k):
            return (torch.randn(n, k, device=dev, dtype=DT) * (1.0 / math.sqrt(k))).contiguous()

        self.wqkv = [w((nh + 2 * nkv) * hd, h) for _ in range(layers)]
        self.wo = [w(h, nh * hd) for _ in range(layers)]
        self.wgu = [w(2 * inter, h) for _ in range(layers)]
        self.wd = [w(h, inter) for _ in range(layers)]
        self.n1 = [torch.ones(h, device=dev, dtype=DT) for _ in range(layers)]
        self.n2 = [torch.ones(h, device=dev, dtype=DT) for _ in range(layers)]
        self.qn = [torch.ones(hd, device=dev, dtype=DT) for _ in range(layers)]
        self.kn = [torch.ones(hd, device=dev, dtype=DT) for _ in range(layers)]
        self.nf = torch.ones(h, device=dev, dtype=DT)
        self.lm = w(vocab, h)
        inv = 1.0 / (1e6 ** (torch.arange(0, hd, 2, device=dev, dtype=torch.float32) / hd))
        pos = torch.arange(0, 16384, device=dev, dtype=torch.float32)
        ang = torch.outer(pos, inv)
        self.cos = torch.cat([ang.cos(), ang.cos()], dim=-1).to(DT)
        self.sin = torch.cat([ang.sin(), ang.sin()], dim=-1).to(DT)

    def rope(self, x, cos, sin):
        # x [..., S, D]; HF-style rotate_half.
        d = x.shape[-1] // 2
        rot = torch.cat([-x[..., d:], x[..., :d]], dim=-1)
        return x * cos + rot * sin

    def layer_qkv(self, i, x, b, s):
        nh, nkv, hd = self.nh, self.nkv, self.hd
        qkv = F.linear(x, self.wqkv[i]).view(b, s, nh + 2 * nkv, hd)
        q, k, v = qkv.split([nh, nkv, nkv], dim=2)
        if self.qk_norm:
            q = F.rms_norm(q, (hd,), self.qn[i], 1e-6)
            k = F.rms_norm(k, (hd,), self.kn[i], 1e-6)
        return q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)

    def mlp(self, i, x):
        gu = F.linear(x, self.wgu[i])
        if FUSED:
            return F.linear(silu_mul(gu), self.wd[i])
        g, u = gu.chunk(2, dim=-1)
        return F.linear(F.silu(g) * u, self.wd[i])

    def qkv_rope(self, i, x, b, s, cos, sin):
        """q, k, v [b, heads, s, hd] after the QKV projection, q/k norm and rotary."""
        if FUSED:
            qkv = F.linear(x, self.wqkv[i]).view(b, s, self.nh + 2 * self.nkv, self.hd)
            return prep(qkv, cos, sin, self.qn[i], self.kn[i], self.nh, self.nkv, self.qk_norm)
        q, k, v = self.layer_qkv(i, x, b, s)
        return self.rope(q, cos, sin), self.rope(k, cos, sin), v

    def norm_in(self, i, res, y, which):
        """(residual + y, RMSNorm of it); y None: norm of the residual alone."""
        w = (self.n1 if which == 1 else self.n2)[i]
        if y is None:
            return res, F.rms_norm(res, (self.h,), w, 1e-6)
        if FUSED:
            return add_rms(res, y, w)
        res = res + y
        return res, F.rms_norm(res, (self.h,), w, 1e-6)

    def prefill(self, x, b, s):
        """x [b*s, h]: one fresh prompt chunk per sequence (context 0)."""
        cos, sin = self.cos[:s], self.sin[:s]
        res, y = x, None
        for i in range(self.layers):
            res, hN = self.norm_in(i, res, y, 1)
            q, k, v = self.qkv_rope(i, hN, b, s, cos, sin)
            with sdpa_kernel(PREFILL_BACKENDS):
                a = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
            a = a.transpose(1, 2).reshape(b * s, self.nh * self.hd)
            res, hN = self.norm_in(i, res, F.linear(a, self.wo[i]), 2)
            y = self.mlp(i, hN)
        res = res + y
        last = res.view(b, s, self.h)[:, -1]
        logits = F.linear(F.rms_norm(last, (self.h,), self.nf, 1e-6), self.lm)
        return logits.argmax(dim=-1)

    def decode(self, x, kc, vc, ctx):
        """x [b, h]; kc/vc per layer [b, nkv, ctx, hd]; the new token sits at ctx-1."""
        b = x.shape[0]
        cos, sin = self.cos[ctx - 1 : ctx], self.sin[ctx - 1 : ctx]
        res, y = x, None
        for i in range(self.layers):
            res, hN = self.norm_in(i, res, y, 1)
            q, k, v = self.qkv_rope(i, hN, b, 1, cos, sin)
            kc[i][:, :, ctx - 1 : ctx].copy_(k)
            vc[i][:, :, ctx - 1 : ctx].copy_(v)
            with sdpa_kernel(DECODE_BACKENDS):
                a = F.scaled_dot_product_attention(q, kc[i], vc[i], enable_gqa=True)
            a = a.transpose(1, 2).reshape(b, self.nh * self.hd)
            res, hN = self.norm_in(i, res, F.linear(a, self.wo[i]), 2)
            y = self.mlp(i, hN)
        res = res + y
        logits = F.linear(F.rms_norm(res, (self.h,), self.nf, 1e-6), self.lm)
        return logits.argmax(dim=-1)


PREFILL_BACKENDS = [SDPBackend.CUDNN_ATTENTION, SDPBackend.FLASH_ATTENTION]
DECODE_BACKENDS = [SDPBackend.FLASH_ATTENTION, SDPBackend.CUDNN_ATTENTION]


def pick_backends():
    """Keep, in order of preference, the backends that run GQA at these shapes."""
    global PREFILL_BACKENDS, DECODE_BACKENDS
    q = torch.randn(1, 32, 256, 128, device="cuda", dtype=DT)
    k = torch.randn(1, 8, 256, 128, device="cuda", dtype=DT)
    q1 = torch.randn(2, 32, 1, 128, device="cuda", dtype=DT)

    def works(be, qq, causal):
        try:
            with sdpa_kernel([be]):
                F.scaled_dot_product_attention(qq, k.expand(qq.shape[0], -1, -1, -1), k.expand(qq.shape[0], -1, -1, -1), is_causal=causal, enable_gqa=True)
            torch.cuda.synchronize()
            return True
        except RuntimeError as e:
            log(f"backend {be} unavailable ({'prefill' if causal else 'decode'}): {str(e).splitlines()[0][:160]}")
            return False

    PREFILL_BACKENDS = [b for b in PREFILL_BACKENDS if works(b, q, True)] or [SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]
    DECODE_BACKENDS = [b for b in DECODE_BACKENDS if works(b, q1, False)] or [SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]
    log(f"prefill backends {PREFILL_BACKENDS}; decode backends {DECODE_BACKENDS}")


def time_graph(fn, reps):
    """Capture fn() in a CUDA graph, replay, return the median ms per replay."""
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
    for _ in range(2):
        g.replay()
    torch.cuda.synchronize()
    st = torch.cuda.Event(enable_timing=True)
    en = torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(reps):
        torch.cuda._sleep(200_000)
        st.record()
        g.replay()
        en.record()
        en.synchronize()
        times.append(st.elapsed_time(en))
    del g
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--models", default="llama-3.1-8b,qwen3-8b,qwen3-32b")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--kv-budget-gib", type=float, default=0.0, help="0 = free memory - 6 GiB")
    ap.add_argument("--deadline-s", type=float, default=1e9, help="stop starting rows after this")
    ap.add_argument("--fused", action="store_true", help="torch.compile the glue kernels (see FUSED)")
    ap.add_argument("--prefill-only", action="store_true")
    a = ap.parse_args()
    global FUSED
    FUSED = a.fused
    t0 = time.time()
    name = torch.cuda.get_device_name(0)
    gpu = "h200" if "H200" in name else "h100" if "H100" in name else name.lower().replace(" ", "-")
    log(f"device {name} -> {gpu}; torch {torch.__version__}; fused glue: {FUSED}")
    pick_backends()
    with open(a.out, "w") as f:
        f.write("model,gpu,tp,phase,batch,tokens,context,ms\n")

    def emit(model, phase, b, t, c, ms):
        with open(a.out, "a") as f:
            f.write(f"{model},{gpu},1,{phase},{b},{t},{c},{ms:.4f}\n")
        log(f"{model} {phase} b={b} t={t} c={c}: {ms:.3f} ms  ({time.time() - t0:.0f} s)")

    for mname in a.models.split(","):
        free, total = torch.cuda.mem_get_info()
        h, layers, nh, nkv, hd, inter, vocab, _ = ARCH[mname]
        wbytes = 2 * (layers * (h * (nh + 2 * nkv) * hd + nh * hd * h + 3 * h * inter) + vocab * h)
        if wbytes > free - 6 * 2**30:
            log(f"{mname}: {wbytes / 2**30:.1f} GiB of weights do not fit in {free / 2**30:.1f} GiB free; skipped")
            continue
        if time.time() - t0 > a.deadline_s:
            log("deadline reached")
            break
        m = Model(mname)
        torch.cuda.synchronize()
        log(f"{mname}: weights {wbytes / 2**30:.1f} GiB ready ({time.time() - t0:.0f} s)")
        with torch.no_grad():
            for b, s in PREFILL:
                if time.time() - t0 > a.deadline_s:
                    break
                x = torch.randn(b * s, h, device="cuda", dtype=DT)
                for attempt in range(2):
                    try:
                        ms = time_graph(lambda: m.prefill(x, b, s), max(3, a.reps - 2) if s >= 4096 else a.reps)
                        emit(mname, "prefill", b, s, 0, ms)
                        break
                    except torch.cuda.OutOfMemoryError:
                        log(f"{mname} prefill b={b} s={s}: out of memory; skipped")
                        break
                    except RuntimeError as e:
                        log(f"{mname} prefill b={b} s={s} with {PREFILL_BACKENDS}: {str(e).splitlines()[0][:200]}")
                        if len(PREFILL_BACKENDS) < 2:
                            break
                        PREFILL_BACKENDS.pop(0)
                        log(f"retrying with {PREFILL_BACKENDS}")
                        torch.cuda.synchronize()
                del x
                torch.cuda.empty_cache()
            free, _ = torch.cuda.mem_get_info()
            budget = a.kv_budget_gib * 2**30 if a.kv_budget_gib > 0 else free - 6 * 2**30
            per_tok = layers * 2 * nkv * hd * 2
            for c in () if a.prefill_only else DECODE_CONTEXTS:
                for b in DECODE_BATCHES:
                    if time.time() - t0 > a.deadline_s:
                        break
                    if b * c * per_tok > budget:
                        log(f"{mname} decode b={b} c={c}: KV {b * c * per_tok / 2**30:.1f} GiB over budget {budget / 2**30:.1f} GiB; skipped")
                        continue
                    try:
                        kc = [torch.zeros(b, nkv, c, hd, device="cuda", dtype=DT) for _ in range(layers)]
                        vc = [torch.zeros(b, nkv, c, hd, device="cuda", dtype=DT) for _ in range(layers)]
                        x = torch.randn(b, h, device="cuda", dtype=DT)
                        ms = time_graph(lambda: m.decode(x, kc, vc, c), a.reps)
                        emit(mname, "decode", b, 1, c, ms)
                    except torch.cuda.OutOfMemoryError:
                        log(f"{mname} decode b={b} c={c}: out of memory; skipped")
                    except RuntimeError as e:
                        log(f"{mname} decode b={b} c={c}: {str(e).splitlines()[0][:200]}; skipped")
                    kc = vc = x = None
                    torch.cuda.empty_cache()
        del m
        torch.cuda.empty_cache()
    log(f"done in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
