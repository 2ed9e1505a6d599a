#!/usr/bin/env python3
"""Cross-check of the shipped profiles' MoE rows (moe_experts: torch grouped GEMMs, gate/up +
down) against AIConfigurator's measured fused-MoE latencies (SGLang / vLLM, balanced routing,
no expert parallelism) at identical (hidden, inter per GPU, experts, top-k, dtype, tokens).
Run from the repository root: python3 docs/moe_cross_check.py (needs pyarrow)."""
import json, statistics, pyarrow.parquet as pq, collections, sys
base='/work/shared/reference/aiconfigurator-perf'
for gpu, sx in [('h100','h100_sxm'),('h200','h200_sxm')]:
    prof=json.load(open(f'models/profiles/{gpu}.json'))
    ours={}
    for r in prof['moe_experts']:
        ours[(r['hidden'],r['inter'],r['experts'],r['top_k'],r['dtype'],r['tokens'])]=r['seconds']
    for fw in ['sglang','vllm']:
        import glob
        for f in glob.glob(f'{base}/{sx}/moe/{fw}/*/moe_perf.parquet'):
            rows=pq.read_table(f).to_pylist()
            ratios=collections.defaultdict(list)
            for r in rows:
                if r['distribution']!='balanced' or r['moe_ep_size']!=1: continue
                dt={'bfloat16':'bf16','fp8_block':'fp8','fp8':'fp8'}.get(r['moe_dtype'])
                if dt is None: continue
                t=r['moe_tp_size']
                k=(r['hidden_size'],r['inter_size']//t,r['num_experts'],r['topk'],dt,r['num_tokens'])
                if k in ours:
                    grp='small' if r['num_tokens']<=64 else 'large'
                    ratios[(r['hidden_size'],r['num_experts'],dt,r['moe_dtype'],r['kernel_source'],grp)].append(ours[k]/(r['latency']*1e-3))
            for key,v in sorted(ratios.items()):
                v.sort(); n=len(v)
                print(f"| {gpu} | {fw} | {key[0]}/{key[1]} ({'Qwen3-235B' if key[0]==4096 else 'DeepSeek-V3'}) | {key[3]} ({key[4]}) | tokens {'<= 64' if key[5]=='small' else '> 64'} | {statistics.median(v):.2f} ({v[n//10]:.2f}-{v[(9*n)//10]:.2f}, n={n}) |")
