//! `xpyd-calibrate run`: measure this machine's GPUs within a time budget and write the
//! profile.
//!
//! Invariants: sections run in a fixed order (checks, memory-bound, attention, GEMMs,
//! copies, multi-GPU), each until its share of `--budget-s` is spent; the fp8-KV decode
//! sections (`decode-fp8kv`, `mla-decode-fp8kv`) check their kernels themselves (whatever
//! `--skip checks` says) and measure the bf16 sections' grids; what a budget cuts
//! is written into the header's notes; the profile is rewritten atomically after every
//! section, so a run killed from outside still leaves the sections it finished.

use crate::attention::{Decode, HEAD_DIM, MLA_KV_LORA, MLA_ROPE, MlaDecode, Prefill};
use crate::device::{Arg, Gpu, drv};
use crate::error::CalError;
use crate::gemm::Lt;
use crate::{multi, shapes, write_profile};
use cudarc::driver::{CudaContext, sys};
use std::path::PathBuf;
use std::time::Instant;
use xpyd_models::Dtype;
use xpyd_models::profile::{
    DecodeAttentionRow, FORMAT_VERSION, GemmRow, MemoryBoundRow, MlaDecodeRow, PrefillAttentionRow,
    ProfileData, ProfileHeader, decode_attention_kv_bytes, mla_decode_kv_bytes,
    prefill_attention_flops,
};

/// `run` arguments.
#[derive(clap::Args, Debug)]
pub(crate) struct RunArgs {
    /// Output profile path.
    #[arg(long, default_value = "profile.json")]
    out: PathBuf,
    /// Catalog id of the GPU (default: from the device name, `h100`, `h200`).
    #[arg(long)]
    gpu_id: Option<String>,
    /// Model whose shapes to measure: catalog id or config.json path (repeatable;
    /// default: the whole catalog).
    #[arg(long)]
    model: Vec<String>,
    /// Tensor-parallel degrees whose GEMM splits are measured.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8")]
    tp: Vec<u32>,
    /// Largest GEMM M (tokens); the grid is 1, 2, 3, 4, 6, 8, 12, ... up to it.
    #[arg(long, default_value_t = 16384)]
    max_m: u64,
    /// Wall-clock budget for all measurements, seconds; sections are trimmed to fit.
    #[arg(long, default_value_t = 420.0)]
    budget_s: f64,
    /// Sections to skip: checks, memory, prefill, decode, decode-fp8kv, mla-decode,
    /// mla-decode-fp8kv, gemm, fp8 (GEMMs), host, multi.
    #[arg(long, value_delimiter = ',')]
    skip: Vec<String>,
    /// Only GEMM shapes whose label contains this text (e.g. `mla_`).
    #[arg(long)]
    gemm_filter: Option<String>,
    /// Timed work per measurement, seconds (more = steadier medians, longer run).
    #[arg(long, default_value_t = 0.03)]
    target_s: f64,
}

/// UTC now as RFC 3339, from the system clock.
fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Civil from days (H. Hinnant).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

fn gpu_id_from_name(name: &str) -> String {
    let up = name.to_ascii_uppercase();
    for id in ["H100", "H200", "H20", "A100", "B200", "L40S"] {
        if up.contains(id) {
            return id.to_ascii_lowercase();
        }
    }
    name.to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

struct Runner {
    args: RunArgs,
    start: Instant,
    data: ProfileData,
}

impl Runner {
    fn elapsed(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }
    /// Seconds left before `frac` of the budget is used.
    fn left(&self, frac: f64) -> f64 {
        self.args.budget_s * frac - self.elapsed()
    }
    fn skip(&self, s: &str) -> bool {
        self.args.skip.iter().any(|x| x == s)
    }
    fn note(&mut self, s: String) {
        eprintln!("note: {s}");
        self.data.header.notes.push(s);
    }
    fn save(&self) -> Result<(), CalError> {
        write_profile(&self.args.out, &self.data)?;
        eprintln!(
            "[{:6.1}s] wrote {} ({} gemm, {} prefill, {} decode, {} memory, {} allreduce, {} p2p, {} host rows)",
            self.elapsed(),
            self.args.out.display(),
            self.data.gemm.len(),
            self.data.attention_prefill.len(),
            self.data.attention_decode.len(),
            self.data.memory_bound.len(),
            self.data.allreduce.len(),
            self.data.p2p_copy.len(),
            self.data.host_copy.len()
        );
        Ok(())
    }
}

fn check_libs() -> Result<(), CalError> {
    // SAFETY: each call only tries to open the shared library.
    unsafe {
        if !cudarc::driver::sys::is_culib_present() {
            return Err(CalError::NoGpu(
                "the CUDA driver library (libcuda.so) is not installed or not on LD_LIBRARY_PATH"
                    .into(),
            ));
        }
        if !cudarc::nvrtc::sys::is_culib_present() {
            return Err(CalError::Library("nvrtc"));
        }
        if !cudarc::cublaslt::sys::is_culib_present() {
            return Err(CalError::Library("cublasLt"));
        }
    }
    Ok(())
}

pub(crate) fn run(args: RunArgs) -> Result<(), CalError> {
    let start = Instant::now();
    check_libs()?;
    drv(cudarc::driver::result::init(), "cuInit").map_err(|e| CalError::NoGpu(e.to_string()))?;
    let count = CudaContext::device_count().map_err(|e| CalError::NoGpu(format!("{e:?}")))?;
    if count < 1 {
        return Err(CalError::NoGpu("the driver reports no CUDA device".into()));
    }
    let (models, model_notes) = shapes::resolve_models(&args.model)?;
    let ctx0 = drv(CudaContext::new(0), "cuCtxCreate")?;
    let (free, total) = drv(ctx0.mem_get_info(), "cuMemGetInfo")?;
    if free < (16usize << 30) {
        return Err(CalError::Memory {
            ordinal: 0,
            free_gib: free as f64 / (1u64 << 30) as f64,
            need_gib: 16.0,
        });
    }
    let (major, minor) = drv(ctx0.compute_capability(), "compute capability")?;
    let name = drv(ctx0.name(), "device name")?;
    let arch: &'static str = match (major, minor) {
        (9, 0) => "sm_90a",
        (10, 0) => "sm_100a",
        (8, 9) => "sm_89",
        (8, 0) => "sm_80",
        _ => "compute_80",
    };
    eprintln!(
        "[{:6.1}s] {name} (cc {major}.{minor}, {count} GPU(s)); compiling kernels for {arch}",
        start.elapsed().as_secs_f64()
    );
    let ptx = crate::device::compile_kernels(arch)?;
    let gpu = Gpu::open(0, Some(&ptx))?;
    let mut drv_ver = 0i32;
    // SAFETY: plain version queries.
    unsafe {
        let _ = sys::cuDriverGetVersion(&mut drv_ver);
    }
    let (mut nv_major, mut nv_minor) = (0i32, 0i32);
    // SAFETY: plain version query.
    unsafe {
        let _ = cudarc::nvrtc::sys::nvrtcVersion(&mut nv_major, &mut nv_minor);
    }
    let cuda_version = format!(
        "nvrtc {nv_major}.{nv_minor}; cublasLt {}; nccl {}",
        Lt::version(),
        multi::nccl_version().unwrap_or_else(|| "absent".into())
    );
    let header = ProfileHeader {
        gpu_name: name.clone(),
        gpu_id: args
            .gpu_id
            .clone()
            .unwrap_or_else(|| gpu_id_from_name(&name)),
        memory_bytes: total as u64,
        sm_count: gpu.sm_count,
        compute_capability: format!("{major}.{minor}"),
        sm_clock_mhz: (gpu.attr(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_CLOCK_RATE) / 1000)
            as u32,
        memory_clock_mhz: (gpu.attr(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE)
            / 1000) as u32,
        gpu_count: count as u32,
        driver_version: drv_ver.to_string(),
        cuda_version,
        date_utc: now_utc(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        command_line: crate::command_line(),
        notes: Vec::new(),
    };
    let mut r = Runner {
        args,
        start,
        data: ProfileData {
            format_version: FORMAT_VERSION,
            header,
            gemm: vec![],
            attention_prefill: vec![],
            attention_decode: vec![],
            memory_bound: vec![],
            hbm_bandwidth_gb_s: None,
            launch_gap_s: None,
            allreduce: vec![],
            p2p_copy: vec![],
            host_copy: vec![],
            moe_experts: vec![],
            gemm_sustained: vec![],
            attention_decode_mla: vec![],
            attention_sustained: vec![],
        },
    };
    for n in model_notes {
        r.note(n);
    }

    // 1. Correctness of our kernels.
    let mut prefill_label = "xpyd-nvrtc".to_string();
    let mut decode_label = "xpyd-nvrtc".to_string();
    if !r.skip("checks") {
        let p = Prefill::new(&gpu, 2, 200, 130, 4, 2, 17)?;
        let e1 = p.check(&gpu)?;
        let p = Prefill::new(&gpu, 1, 129, 0, 8, 1, 23)?;
        let e2 = p.check(&gpu)?;
        let mut de: f64 = 0.0;
        let mut errs = Vec::new();
        for mma in [true, false] {
            for (lens, h, kv, seed) in [
                (vec![1u32, 77, 1300], 8u32, 2u32, 29u32),
                (vec![513, 2000], 16, 2, 31),
                (vec![300], 4, 4, 37),
            ] {
                let d = Decode::new(&gpu, lens, h, kv, 16, seed, mma, Dtype::Bf16)?;
                let e = d.check(&gpu)?;
                errs.push(format!(
                    "{}{e:.2e}",
                    if mma { "mma " } else { "cuda-core " }
                ));
                if mma {
                    de = de.max(e);
                }
            }
            if mma {
                // A group that is not a power of two (tensor-core kernel only).
                let d = Decode::new(&gpu, vec![700, 65], 12, 2, 16, 41, true, Dtype::Bf16)?;
                let e = d.check(&gpu)?;
                errs.push(format!("mma {e:.2e}"));
                de = de.max(e);
            }
        }
        let pe = e1.max(e2);
        eprintln!(
            "[{:6.1}s] checks: prefill rel err {e1:.2e} {e2:.2e}; decode {}",
            r.elapsed(),
            errs.join(" ")
        );
        if pe.is_nan() || pe >= 2e-2 {
            prefill_label = "xpyd-nvrtc-unchecked".into();
            r.note(format!(
                "prefill kernel FAILED its check (rel err {pe:.3e}); rows labelled {prefill_label}"
            ));
        } else {
            r.note(format!(
                "prefill kernel checked against f64 reference: rel err {pe:.2e}"
            ));
        }
        if de.is_nan() || de >= 2e-2 {
            decode_label = "xpyd-nvrtc-unchecked".into();
            r.note(format!(
                "decode kernel FAILED its check (rel err {de:.3e}); rows labelled {decode_label}"
            ));
        } else {
            r.note(format!(
                "decode kernel checked against f64 reference: rel err {de:.2e}"
            ));
        }
    }

    // 2. HBM bandwidth, launch gap, memory-bound kernels.
    if !r.skip("memory") {
        memory_section(&mut r, &gpu)?;
        r.save()?;
    }
    // 3. Attention.
    if !r.skip("prefill") {
        prefill_section(&mut r, &gpu, &prefill_label)?;
        r.save()?;
    }
    if !r.skip("decode") {
        decode_section(&mut r, &gpu, &decode_label, Dtype::Bf16)?;
        r.save()?;
    }
    if !r.skip("decode-fp8kv") {
        let label = decode_fp8_check(&mut r, &gpu)?;
        decode_section(&mut r, &gpu, &label, Dtype::Fp8)?;
        r.save()?;
    }
    if !r.skip("mla-decode") {
        mla_decode_section(&mut r, &gpu, Dtype::Bf16)?;
        r.save()?;
    }
    if !r.skip("mla-decode-fp8kv") {
        mla_decode_section(&mut r, &gpu, Dtype::Fp8)?;
        r.save()?;
    }
    // 4. GEMMs.
    if !r.skip("gemm") {
        gemm_section(&mut r, &gpu, &models)?;
        r.save()?;
    }
    // 5. Host copies.
    if !r.skip("host") {
        let sizes: Vec<u64> = (0..9).map(|i| 4096u64 << (2 * i)).collect(); // 4 KiB .. 256 MiB
        r.data.host_copy = multi::host_copies(&gpu, &sizes)?;
        r.save()?;
    }
    // 6. Multi-GPU.
    if !r.skip("multi") && count >= 2 {
        let mut gpus = vec![gpu];
        for i in 1..count as usize {
            gpus.push(Gpu::open(i, Some(&ptx))?);
        }
        let p2p_sizes: Vec<u64> = (0..10).map(|i| 4096u64 << (2 * i)).collect(); // .. 1 GiB
        r.data.p2p_copy = multi::p2p(&gpus[0], &gpus[1], &p2p_sizes)?;
        r.save()?;
        if std::env::var("NCCL_NVLS_ENABLE").as_deref() != Ok("0") {
            // SAFETY: single-threaded at this point; NCCL reads it at init.
            unsafe { std::env::set_var("NCCL_NVLS_ENABLE", "0") };
        }
        let ar_sizes: Vec<u64> = (0..21).map(|i| 1024u64 << i).collect(); // 1 KiB .. 1 GiB
        for n in [2usize, 4, 8] {
            if n > gpus.len() {
                break;
            }
            match multi::allreduce(&gpus[..n], &ar_sizes, 10) {
                Ok(rows) => r.data.allreduce.extend(rows),
                Err(e) => r.note(format!("all-reduce on {n} GPUs failed: {e}")),
            }
            r.save()?;
        }
    } else if count < 2 {
        r.note("one GPU: no all-reduce or peer-copy tables".into());
    }
    r.note(format!("run took {:.0} s", r.elapsed()));
    r.save()
}

fn memory_section(r: &mut Runner, gpu: &Gpu) -> Result<(), CalError> {
    // HBM: 1 GiB -> 1 GiB vector copy, counting read + write.
    let half = 1usize << 30;
    let src = gpu.alloc(half)?;
    let dst = gpu.alloc(half)?;
    gpu.fill_bytes(&src, 1)?;
    let n16 = (half / 16) as u64;
    let t = gpu.time(2, 10, 1, |_| {
        gpu.launch(
            "copy_vec",
            (gpu.sm_count * 16, 1, 1),
            (512, 1, 1),
            0,
            &[Arg::Ptr(src.ptr), Arg::Ptr(dst.ptr), Arg::U64(n16)],
        )
    })?;
    let kernel_gb_s = 2.0 * half as f64 / t / 1e9;
    let t2 = gpu.time(2, 10, 1, |_| {
        // SAFETY: both buffers hold `half` bytes.
        drv(
            unsafe {
                cudarc::driver::result::memcpy_dtod_async(dst.ptr, src.ptr, half, gpu.cu_stream())
            },
            "cuMemcpyDtoDAsync",
        )
    })?;
    let memcpy_gb_s = 2.0 * half as f64 / t2 / 1e9;
    eprintln!(
        "[{:6.1}s] HBM copy: kernel {kernel_gb_s:.0} GB/s, memcpy {memcpy_gb_s:.0} GB/s",
        r.elapsed()
    );
    r.data.hbm_bandwidth_gb_s = Some(kernel_gb_s.max(memcpy_gb_s));
    for bytes in [1u64 << 20, 8 << 20, 64 << 20, 256 << 20, 1 << 30] {
        let n = bytes / 16;
        let s = gpu.time_auto(0.02, 50, |_| {
            gpu.launch(
                "copy_vec",
                (gpu.sm_count * 16, 1, 1),
                (512, 1, 1),
                0,
                &[Arg::Ptr(src.ptr), Arg::Ptr(dst.ptr), Arg::U64(n)],
            )
        })?;
        r.data.memory_bound.push(MemoryBoundRow {
            op: "copy".into(),
            elements: bytes / 2,
            bytes: 2 * bytes,
            seconds: s,
            gb_s: 2.0 * bytes as f64 / s / 1e9,
        });
    }
    drop(src);
    drop(dst);

    // Launch gap inside a CUDA graph: 1 vs 201 empty kernels.
    let mut per = Vec::new();
    for n in [1usize, 201] {
        drv(
            gpu.stream
                .begin_capture(sys::CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL),
            "begin capture",
        )?;
        for _ in 0..n {
            gpu.launch("noop", (1, 1, 1), (32, 1, 1), 0, &[Arg::I32(0)])?;
        }
        let graph = drv(
            gpu.stream.end_capture(sys::CUgraphInstantiate_flags(0)),
            "end capture",
        )?
        .ok_or_else(|| CalError::Cuda("empty graph".into()))?;
        let t = gpu.time(3, 20, 1, |_| drv(graph.launch(), "cuGraphLaunch"))?;
        per.push(t);
    }
    let gap = (per[1] - per[0]) / 200.0;
    eprintln!(
        "[{:6.1}s] launch gap in a graph: {:.2} us per kernel",
        r.elapsed(),
        gap * 1e6
    );
    if gap > 0.0 {
        r.data.launch_gap_s = Some(gap);
    }

    // rmsnorm / silu_mul / rotary over token counts.
    let tokens = [1u64, 16, 128, 1024, 8192];
    let maxt = 8192usize;
    let x = gpu.alloc(maxt * 2 * 28672 * 2)?;
    let y = gpu.alloc(maxt * 28672 * 2)?;
    let w = gpu.alloc(8192 * 2)?;
    gpu.fill_bf16(&x, 2, 1.0)?;
    gpu.fill_bf16(&w, 3, 1.0)?;
    for hidden in [4096u64, 8192] {
        for &t in &tokens {
            let s = gpu.time_auto(0.01, 50, |_| {
                gpu.launch(
                    "rmsnorm",
                    (t as u32, 1, 1),
                    (256, 1, 1),
                    0,
                    &[
                        Arg::Ptr(x.ptr),
                        Arg::Ptr(w.ptr),
                        Arg::Ptr(y.ptr),
                        Arg::I32(hidden as i32),
                        Arg::F32(1e-6),
                    ],
                )
            })?;
            let bytes = 4 * t * hidden + 2 * hidden;
            r.data.memory_bound.push(MemoryBoundRow {
                op: "rmsnorm".into(),
                elements: t * hidden,
                bytes,
                seconds: s,
                gb_s: bytes as f64 / s / 1e9,
            });
        }
    }
    for inter in [3584u64, 14336] {
        for &t in &tokens {
            let total = t * inter / 8;
            let blocks = total.div_ceil(256).min(u64::from(gpu.sm_count) * 16) as u32;
            let s = gpu.time_auto(0.01, 50, |_| {
                gpu.launch(
                    "silu_mul",
                    (blocks, 1, 1),
                    (256, 1, 1),
                    0,
                    &[
                        Arg::Ptr(x.ptr),
                        Arg::Ptr(y.ptr),
                        Arg::I32(inter as i32),
                        Arg::U64(t),
                    ],
                )
            })?;
            let bytes = 6 * t * inter;
            r.data.memory_bound.push(MemoryBoundRow {
                op: "silu_mul".into(),
                elements: t * inter,
                bytes,
                seconds: s,
                gb_s: bytes as f64 / s / 1e9,
            });
        }
    }
    for heads in [12u64, 48] {
        for &t in &tokens {
            let total = t * heads * 8;
            let blocks = total.div_ceil(256).min(u64::from(gpu.sm_count) * 16) as u32;
            let s = gpu.time_auto(0.01, 50, |_| {
                gpu.launch(
                    "rotary_neox",
                    (blocks, 1, 1),
                    (256, 1, 1),
                    0,
                    &[Arg::Ptr(x.ptr), Arg::I32(heads as i32), Arg::U64(t)],
                )
            })?;
            let bytes = 4 * t * heads * 128;
            r.data.memory_bound.push(MemoryBoundRow {
                op: "rotary".into(),
                elements: t * heads * 128,
                bytes,
                seconds: s,
                gb_s: bytes as f64 / s / 1e9,
            });
        }
    }
    gpu.sync()
}

/// The prefill grid: (batch, new tokens, context, heads, kv heads).
pub(crate) fn prefill_grid() -> Vec<(u32, u32, u32, u32, u32)> {
    let mut v = Vec::new();
    for &(h, kv) in &[(32u32, 8u32), (8, 1)] {
        for &n in &[128u32, 256, 512, 1024, 2048, 4096, 8192, 16384] {
            for &b in &[1u32, 4] {
                if u64::from(b) * u64::from(n) <= 16384 {
                    v.push((b, n, 0, h, kv));
                }
            }
        }
        for &ctx in &[2048u32, 8192] {
            v.push((1, 512, ctx, h, kv));
        }
    }
    v
}

fn prefill_section(r: &mut Runner, gpu: &Gpu, label: &str) -> Result<(), CalError> {
    let mut skipped = 0;
    let mut best: f64 = 0.0;
    for (b, n, ctx, h, kv) in prefill_grid() {
        if r.left(0.25) < 0.0 {
            skipped += 1;
            continue;
        }
        let p = Prefill::new(gpu, b, n, ctx, h, kv, n ^ ctx)?;
        let s = gpu.time_auto(r.args.target_s, 30, |_| p.launch(gpu))?;
        let flops = prefill_attention_flops(b, n, ctx, h, HEAD_DIM);
        best = best.max(flops / s / 1e12);
        r.data.attention_prefill.push(PrefillAttentionRow {
            batch: b,
            new_tokens: n,
            context: ctx,
            heads: h,
            kv_heads: kv,
            head_dim: HEAD_DIM,
            seconds: s,
            tflops: flops / s / 1e12,
            kernel: label.into(),
            v_head_dim: None,
        });
    }
    eprintln!(
        "[{:6.1}s] prefill attention: best {best:.0} TFLOP/s",
        r.elapsed()
    );
    if skipped > 0 {
        r.note(format!(
            "budget: {skipped} prefill attention shapes skipped"
        ));
    }
    Ok(())
}

/// Check the fp8-KV tensor-core decode kernel on the bf16 checks' shapes against an f64
/// reference over the dequantised cache; its rows' label (`xpyd-nvrtc-fp8kv`, or
/// `xpyd-nvrtc-fp8kv-unchecked` when the check fails).
fn decode_fp8_check(r: &mut Runner, gpu: &Gpu) -> Result<String, CalError> {
    let mut errs = Vec::new();
    let mut worst: f64 = 0.0;
    for (lens, h, kv, seed) in [
        (vec![1u32, 77, 1300], 8u32, 2u32, 29u32),
        (vec![513, 2000], 16, 2, 31),
        (vec![300], 4, 4, 37),
        (vec![700, 65], 12, 2, 41),
    ] {
        let d = Decode::new(gpu, lens, h, kv, 16, seed, true, Dtype::Fp8)?;
        let e = d.check(gpu)?;
        errs.push(format!("{h}/{kv} {e:.2e}"));
        worst = if e.is_nan() { f64::NAN } else { worst.max(e) };
    }
    eprintln!(
        "[{:6.1}s] checks: fp8-KV decode rel err {}",
        r.elapsed(),
        errs.join(" ")
    );
    Ok(if worst.is_nan() || worst >= 2e-2 {
        let label = "xpyd-nvrtc-fp8kv-unchecked";
        r.note(format!(
            "FP8-KV decode kernel FAILED its check (rel err {worst:.3e}); rows labelled {label}"
        ));
        label.into()
    } else {
        r.note(format!(
            "FP8-KV decode kernel (e4m3 K/V, per-tensor scales) checked against f64 reference over the dequantised cache: rel err {worst:.2e} ({})",
            errs.join(", ")
        ));
        "xpyd-nvrtc-fp8kv".into()
    })
}

/// Decode attention over a `kv` cache (bf16 or fp8 e4m3) on the same grid for both: the
/// shapes whose bf16 cache fits 8 GiB. The fp8 section also times the bf16 kernel at a few
/// points and prints both (log only).
fn decode_section(r: &mut Runner, gpu: &Gpu, label: &str, kv_dtype: Dtype) -> Result<(), CalError> {
    let fp8 = kv_dtype == Dtype::Fp8;
    let frac = if fp8 { 0.40 } else { 0.35 };
    let mut skipped = 0;
    let mut best: f64 = 0.0;
    for &(h, kv) in &[(32u32, 8u32), (8, 1)] {
        for &b in &[1u32, 8, 32, 128, 256] {
            for &ctx in &[128u32, 512, 2048, 8192, 32768] {
                let bytes = decode_attention_kv_bytes(b, ctx, kv, HEAD_DIM, Dtype::Bf16);
                if bytes > 8.0 * (1u64 << 30) as f64 {
                    continue;
                }
                let bytes = decode_attention_kv_bytes(b, ctx, kv, HEAD_DIM, kv_dtype);
                if r.left(frac) < 0.0 {
                    skipped += 1;
                    continue;
                }
                let d = Decode::new(
                    gpu,
                    vec![ctx; b as usize],
                    h,
                    kv,
                    16,
                    b ^ ctx,
                    true,
                    kv_dtype,
                )?;
                let s = gpu.time_auto(r.args.target_s, 30, |_| d.launch(gpu))?;
                let block_size = d.block_size;
                if !fp8 && b == 32 && (ctx == 2048 || ctx == 32768) {
                    let d2 = Decode::new(
                        gpu,
                        vec![ctx; b as usize],
                        h,
                        kv,
                        16,
                        b ^ ctx,
                        false,
                        Dtype::Bf16,
                    )?;
                    let s2 = gpu.time_auto(r.args.target_s, 30, |_| d2.launch(gpu))?;
                    eprintln!(
                        "decode b={b} ctx={ctx} {h}/{kv}: tensor-core {:.0} GB/s, cuda-core {:.0} GB/s",
                        bytes / s / 1e9,
                        bytes / s2 / 1e9
                    );
                }
                if fp8 && matches!(b, 1 | 32 | 256) && matches!(ctx, 2048 | 8192 | 32768) {
                    drop(d);
                    let d2 = Decode::new(
                        gpu,
                        vec![ctx; b as usize],
                        h,
                        kv,
                        16,
                        b ^ ctx,
                        true,
                        Dtype::Bf16,
                    )?;
                    let s2 = gpu.time_auto(r.args.target_s, 30, |_| d2.launch(gpu))?;
                    eprintln!(
                        "decode b={b} ctx={ctx} {h}/{kv}: bf16 KV {:.1} us, fp8 KV {:.1} us ({:.2}x)",
                        s2 * 1e6,
                        s * 1e6,
                        s2 / s
                    );
                }
                best = best.max(bytes / s / 1e9);
                r.data.attention_decode.push(DecodeAttentionRow {
                    batch: b,
                    context: ctx,
                    heads: h,
                    kv_heads: kv,
                    head_dim: HEAD_DIM,
                    block_size,
                    kv_dtype,
                    seconds: s,
                    gb_s: bytes / s / 1e9,
                    kernel: label.into(),
                });
            }
        }
    }
    let what = if fp8 { "fp8-KV decode" } else { "decode" };
    eprintln!(
        "[{:6.1}s] {what} attention: best {best:.0} GB/s of KV",
        r.elapsed()
    );
    if skipped > 0 {
        let what = if fp8 { "fp8-KV decode" } else { "decode" };
        r.note(format!("budget: {skipped} {what} attention shapes skipped"));
    }
    Ok(())
}

/// Absorbed MLA decode (DeepSeek-V3 latent rows of 512 + 64) over a `kv` latent cache
/// (bf16, or fp8 e4m3 with one scale): checked against an f64 reference first (rows
/// labelled `xpyd-nvrtc-mla-unchecked` / `xpyd-nvrtc-mla-fp8kv-unchecked` if that fails),
/// then timed on the decode grid at 128/64/32/16 heads (TP 1/2/4/8); the fp8 grid is the
/// bf16 one (shapes whose bf16 cache fits 8 GiB), and the bf16 kernel is timed beside it at
/// a few points (log only).
fn mla_decode_section(r: &mut Runner, gpu: &Gpu, kv: Dtype) -> Result<(), CalError> {
    let fp8 = kv == Dtype::Fp8;
    let mut errs = Vec::new();
    let mut worst: f64 = 0.0;
    for (lens, h, seed) in [
        (vec![1u32, 77, 700, 1300], 16u32, 51u32),
        (vec![513, 2000], 128, 53),
        (vec![300, 5], 64, 55),
        (vec![1200], 32, 57),
        // 70 short sequences at 128 heads: one split, no reduction pass.
        ((0..70).map(|i| 20 + 3 * i).collect(), 128, 59),
    ] {
        let d = MlaDecode::new(gpu, lens, h, 16, seed, kv)?;
        let e = d.check(gpu)?;
        errs.push(format!("{h}h/{}sp {e:.2e}", d.splits));
        worst = if e.is_nan() { f64::NAN } else { worst.max(e) };
    }
    eprintln!(
        "[{:6.1}s] checks: {}MLA decode rel err {}",
        r.elapsed(),
        if fp8 { "fp8-KV " } else { "" },
        errs.join(" ")
    );
    let label = if fp8 {
        if worst.is_nan() || worst >= 2e-2 {
            r.note(format!(
                "FP8-KV MLA decode kernel FAILED its check (rel err {worst:.3e}); rows labelled xpyd-nvrtc-mla-fp8kv-unchecked"
            ));
            "xpyd-nvrtc-mla-fp8kv-unchecked"
        } else {
            r.note(format!(
                "FP8-KV MLA decode kernel (e4m3 latent cache, per-tensor scale) checked against f64 reference over the dequantised cache: rel err {worst:.2e} ({})",
                errs.join(", ")
            ));
            "xpyd-nvrtc-mla-fp8kv"
        }
    } else if worst.is_nan() || worst >= 2e-2 {
        r.note(format!(
            "MLA decode kernel FAILED its check (rel err {worst:.3e}); rows labelled xpyd-nvrtc-mla-unchecked"
        ));
        "xpyd-nvrtc-mla-unchecked"
    } else {
        r.note(format!(
            "MLA decode kernel checked against f64 reference: rel err {worst:.2e} ({})",
            errs.join(", ")
        ));
        "xpyd-nvrtc-mla"
    };
    let mut skipped = 0;
    let mut best: f64 = 0.0;
    for &h in &[128u32, 64, 32, 16] {
        for &b in &[1u32, 8, 32, 128, 256] {
            let mut line = format!(
                "mla decode {}{h:3}h b={b:3}:",
                if fp8 { "fp8-KV " } else { "" }
            );
            for &ctx in &[128u32, 512, 2048, 8192, 32768] {
                let bytes = mla_decode_kv_bytes(b, ctx, MLA_KV_LORA, MLA_ROPE, Dtype::Bf16);
                if bytes > 8.0 * (1u64 << 30) as f64 {
                    continue;
                }
                let bytes = mla_decode_kv_bytes(b, ctx, MLA_KV_LORA, MLA_ROPE, kv);
                if r.left(0.9) < 0.0 {
                    skipped += 1;
                    continue;
                }
                let d = MlaDecode::new(gpu, vec![ctx; b as usize], h, 16, b ^ ctx ^ h, kv)?;
                let s = gpu.time_auto(r.args.target_s, 30, |_| d.launch(gpu))?;
                let gb_s = bytes / s / 1e9;
                best = best.max(gb_s);
                line += &format!(" {ctx}:{:.1}us/{gb_s:.0}GB/s/{}sp", s * 1e6, d.splits);
                let block_size = d.block_size;
                if fp8 && matches!(b, 1 | 32 | 128) && matches!(ctx, 2048 | 8192 | 32768) {
                    drop(d);
                    let d2 = MlaDecode::new(
                        gpu,
                        vec![ctx; b as usize],
                        h,
                        16,
                        b ^ ctx ^ h,
                        Dtype::Bf16,
                    )?;
                    let s2 = gpu.time_auto(r.args.target_s, 30, |_| d2.launch(gpu))?;
                    line += &format!("[bf16 {:.1}us]", s2 * 1e6);
                }
                r.data.attention_decode_mla.push(MlaDecodeRow {
                    batch: b,
                    context: ctx,
                    heads: h,
                    kv_lora_rank: MLA_KV_LORA,
                    rope_dim: MLA_ROPE,
                    block_size,
                    kv_dtype: kv,
                    seconds: s,
                    gb_s,
                    kernel: label.into(),
                });
            }
            eprintln!("{line}");
        }
    }
    let what = if fp8 { "fp8-KV MLA" } else { "MLA" };
    eprintln!(
        "[{:6.1}s] {what} decode attention: best {best:.0} GB/s of latent cache",
        r.elapsed()
    );
    if skipped > 0 {
        r.note(format!("budget: {skipped} {what} decode shapes skipped"));
    }
    Ok(())
}

fn gemm_section(
    r: &mut Runner,
    gpu: &Gpu,
    models: &[xpyd_models::ModelArch],
) -> Result<(), CalError> {
    let mut notes = Vec::new();
    let mut shapes = shapes::gemm_shapes(models, &r.args.tp, r.args.max_m, &mut notes);
    if let Some(f) = &r.args.gemm_filter {
        shapes.retain(|s| s.label.contains(f.as_str()));
        notes.push(format!("GEMM shapes limited to labels containing `{f}`"));
    }
    for n in notes {
        r.note(n);
    }
    let lt = Lt::new(gpu)?;
    let grid = shapes::m_grid(r.args.max_m);
    // Buffers: arena for weight + activation (weights rotate), output.
    let need = shapes
        .iter()
        .map(|s| s.n * s.k * 2 + s.max_m * s.k * 2)
        .max()
        .unwrap_or(0);
    let out_need = shapes.iter().map(|s| s.max_m * s.n * 2).max().unwrap_or(0);
    // Room for the weight to rotate through several times the L2 size.
    let rotate = (4 * gpu.l2_bytes as u64).max(512 << 20);
    let arena = gpu.alloc((need + rotate) as usize)?;
    let out = gpu.alloc(out_need as usize + 256)?;
    gpu.fill_bytes(&arena, 7)?;
    gpu.sync()?;
    let fp8_ok = gpu.attr(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)
        >= 9
        && !r.skip("fp8");
    let mut dtypes = vec![(Dtype::Bf16, 0.60, 600e12)];
    if fp8_ok {
        dtypes.push((Dtype::Fp8, 0.90, 1000e12));
    } else {
        r.note("fp8 GEMMs not measured".into());
    }
    let mut peak = [0.0f64; 2];
    for (di, &(dtype, frac, rate)) in dtypes.iter().enumerate() {
        let mut skipped = 0;
        let mut failed = 0;
        // M-major: when the budget runs short, the largest M go first, for every shape.
        for &m in &grid {
            for s in shapes.iter().filter(|s| m <= s.max_m) {
                // Predicted wall time of this measurement: ~6 calls + overhead.
                let flops = 2.0 * (m * s.n * s.k) as f64;
                let predicted = 6.0 * (flops / rate).max(10e-6) + 2e-3;
                if r.left(frac) < predicted {
                    skipped += 1;
                    continue;
                }
                match lt.time_gemm(gpu, &arena, &out, m, s.n, s.k, dtype, r.args.target_s) {
                    Ok(sec) => {
                        let tf = flops / sec / 1e12;
                        peak[di] = peak[di].max(tf);
                        r.data.gemm.push(GemmRow {
                            m,
                            n: s.n,
                            k: s.k,
                            dtype,
                            seconds: sec,
                            tflops: tf,
                            label: s.label.clone(),
                        });
                    }
                    Err(e) => {
                        failed += 1;
                        if failed <= 3 {
                            r.note(format!("GEMM {m}x{}x{} {}: {e}", s.n, s.k, dtype.name()));
                        }
                    }
                }
            }
        }
        eprintln!(
            "[{:6.1}s] GEMM {}: {} shapes, peak {:.0} TFLOP/s",
            r.elapsed(),
            dtype.name(),
            shapes.len(),
            peak[di]
        );
        if skipped > 0 {
            r.note(format!(
                "budget: {skipped} {} GEMMs skipped (largest M first)",
                dtype.name()
            ));
        }
        if failed > 0 {
            r.note(format!("{failed} {} GEMMs failed", dtype.name()));
        }
        r.save()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpu_ids_from_driver_names() {
        assert_eq!(gpu_id_from_name("NVIDIA H100 80GB HBM3"), "h100");
        assert_eq!(gpu_id_from_name("NVIDIA H200"), "h200");
        assert_eq!(gpu_id_from_name("Some GPU 9"), "some-gpu-9");
    }

    #[test]
    fn utc_stamp_is_rfc3339() {
        let s = now_utc();
        assert_eq!(s.len(), 20, "{s}");
        assert!(s.ends_with('Z') && s.as_bytes()[10] == b'T', "{s}");
        assert!(s.as_str() > "2024-01-01T00:00:00Z");
    }

    #[test]
    fn prefill_grid_is_bounded() {
        for (b, n, ctx, h, kv) in prefill_grid() {
            assert!(u64::from(b) * u64::from(n) <= 16384);
            assert!(h % kv == 0 && ctx <= 8192);
        }
    }
}
