#!/usr/bin/env bash
# Run the calibration on a GPU machine and leave the profile and logs in $OUT.
# Usage: device_run.sh ID BIN MODE   (MODE: single = one-GPU tables, multi = NCCL/P2P only)
# Two processes for the single-GPU tables, so that a fault in our own attention kernels
# cannot take the cuBLASLt tables with it; merged at the end.
set -u
id=$1; bin=$2; mode=$3
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
libdirs=/usr/local/cuda/lib64:/usr/lib/x86_64-linux-gnu
for l in libnvrtc.so libcublasLt.so libnccl.so; do
  d=$(find /usr/local /usr/lib /opt -name "$l*" 2>/dev/null | head -1)
  [ -n "$d" ] && libdirs=$libdirs:$(dirname "$d")
done
export LD_LIBRARY_PATH=$libdirs:${LD_LIBRARY_PATH:-}
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.max.sm,clocks.mem,driver_version --format=csv | tee "$OUT/nvidia-smi.csv"
if [ "$mode" = multi ]; then
  # NCCL all-reduce (2, 4, 8 GPUs as present), peer and host copies; then the attention
  # tables and SDPA again on GPU 0, for a refresh of the one-GPU profile.
  nvidia-smi topo -m 2>&1 | tee "$OUT/topo.txt"
  "$bin" run --gpu-id "$id" --out "$OUT/$id-multi.json" --skip checks,memory,prefill,decode,gemm --budget-s 200 2>&1 | tee "$OUT/$id-multi.log"
  "$bin" run --gpu-id "$id" --out "$OUT/$id-attn.json" --skip memory,gemm,host,multi --budget-s 100 2>&1 | tee "$OUT/$id-attn.log"
  timeout 120 python3 calibrate/scripts/sdpa_bench.py "$OUT/$id-sdpa.json" > "$OUT/$id-sdpa.log" 2>&1
  exit 0
fi
"$bin" run --gpu-id "$id" --out "$OUT/$id.json" --skip checks,prefill,decode --budget-s "${GEMM_BUDGET:-270}" 2>&1 | tee "$OUT/$id-gemm.log"
"$bin" run --gpu-id "$id" --out "$OUT/$id-attn.json" --skip memory,gemm,host,multi --budget-s "${ATTN_BUDGET:-100}" 2>&1 | tee "$OUT/$id-attn.log"
if [ -f "$OUT/$id-attn.json" ] && [ -f "$OUT/$id.json" ]; then
  "$bin" merge --base "$OUT/$id.json" --from "$OUT/$id-attn.json" --tables attention_prefill,attention_decode 2>&1 | tee -a "$OUT/$id-attn.log"
fi
timeout 120 python3 calibrate/scripts/sdpa_bench.py "$OUT/$id-sdpa.json" 2>&1 | tee "$OUT/$id-sdpa.log"
if [ -f "$OUT/$id-sdpa.json" ]; then
  "$bin" merge-sdpa --profile "$OUT/$id.json" --sdpa "$OUT/$id-sdpa.json" 2>&1 | tee -a "$OUT/$id-sdpa.log"
fi
ls -la "$OUT"
