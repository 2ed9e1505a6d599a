//! One GPU: its context, a timing stream, the NVRTC-compiled kernels, raw device buffers
//! and event-based timing.
//!
//! Invariants: every driver call's status is checked and turned into [`CalError`]; every
//! launch is followed, at the next synchronisation, by a status check; buffers free
//! themselves on drop with their context bound; timings are medians of CUDA-event
//! intervals taken after warm-up, never host clocks around asynchronous work.

use crate::error::CalError;
use cudarc::driver::{CudaContext, CudaFunction, CudaModule, CudaStream, result, sys};
use std::ffi::c_void;
use std::sync::Arc;

/// The CUDA source of every kernel (see the file for layouts).
pub(crate) const KERNELS_CU: &str = include_str!("kernels.cu");

/// Names of the kernels loaded from [`KERNELS_CU`].
const KERNEL_NAMES: &[&str] = &[
    "fill_bytes",
    "fill_bf16",
    "fill_e4m3",
    "noop",
    "spin",
    "copy_vec",
    "rmsnorm",
    "silu_mul",
    "rotary_neox",
    "flash_prefill_hd128",
    "paged_decode_g1",
    "paged_decode_g2",
    "paged_decode_g4",
    "paged_decode_g8",
    "paged_decode_mma",
    "paged_decode_mma_fp8",
    "decode_reduce",
    "mla_decode",
    "mla_decode_fp8",
    "mla_decode_reduce",
];

pub(crate) fn drv<T>(r: Result<T, result::DriverError>, what: &str) -> Result<T, CalError> {
    r.map_err(|e| CalError::Cuda(format!("{what}: {e:?}")))
}

/// Compile the kernels with NVRTC for `arch` (`sm_90a`); returns PTX text.
pub(crate) fn compile_kernels(arch: &'static str) -> Result<String, CalError> {
    let opts = cudarc::nvrtc::CompileOptions {
        arch: Some(arch),
        options: vec!["--std=c++17".into(), "-lineinfo".into()],
        ..Default::default()
    };
    let ptx = cudarc::nvrtc::compile_ptx_with_opts(KERNELS_CU, opts)
        .map_err(|e| CalError::Nvrtc(format!("{e}")))?;
    Ok(ptx.to_src())
}

/// A device allocation (raw pointer), freed on drop.
pub(crate) struct DevBuf {
    pub(crate) ptr: sys::CUdeviceptr,
    pub(crate) bytes: usize,
    ctx: Arc<CudaContext>,
}

impl DevBuf {
    /// Device pointer plus a byte offset.
    pub(crate) fn at(&self, offset: usize) -> sys::CUdeviceptr {
        debug_assert!(offset <= self.bytes);
        self.ptr + offset as u64
    }
}

impl Drop for DevBuf {
    fn drop(&mut self) {
        if self.ctx.bind_to_thread().is_ok() {
            // SAFETY: ptr came from malloc_sync in this context and is freed once.
            let _ = unsafe { result::free_sync(self.ptr) };
        }
    }
}

/// A loaded GPU: context, stream, kernels.
pub(crate) struct Gpu {
    pub(crate) ordinal: usize,
    pub(crate) ctx: Arc<CudaContext>,
    pub(crate) stream: Arc<CudaStream>,
    _module: Option<Arc<CudaModule>>,
    funcs: Vec<(&'static str, CudaFunction)>,
    pub(crate) sm_count: u32,
    pub(crate) l2_bytes: usize,
}

/// A launch argument: anything passed by pointer to its value.
pub(crate) enum Arg {
    Ptr(u64),
    I32(i32),
    U32(u32),
    U64(u64),
    F32(f32),
}

impl Gpu {
    /// Open device `ordinal` and, when `ptx` is given, load the kernels.
    pub(crate) fn open(ordinal: usize, ptx: Option<&str>) -> Result<Gpu, CalError> {
        let ctx = drv(CudaContext::new(ordinal), "cuCtxCreate")?;
        // SAFETY: we synchronise explicitly and use raw pointers, never CudaSlice.
        unsafe { ctx.disable_event_tracking() };
        let stream = drv(ctx.new_stream(), "cuStreamCreate")?;
        let sm_count = drv(
            ctx.attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT),
            "attribute",
        )? as u32;
        let l2_bytes = drv(
            ctx.attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE),
            "attribute",
        )? as usize;
        let mut gpu = Gpu {
            ordinal,
            ctx,
            stream,
            _module: None,
            funcs: Vec::new(),
            sm_count,
            l2_bytes,
        };
        if let Some(ptx) = ptx {
            let module = drv(
                gpu.ctx.load_module(cudarc::nvrtc::Ptx::from_src(ptx)),
                "cuModuleLoadData (kernels)",
            )?;
            for name in KERNEL_NAMES {
                let f = drv(module.load_function(name), name)?;
                gpu.funcs.push((name, f));
            }
            gpu._module = Some(module);
        }
        Ok(gpu)
    }

    pub(crate) fn bind(&self) -> Result<(), CalError> {
        drv(self.ctx.bind_to_thread(), "cuCtxSetCurrent")
    }

    pub(crate) fn attr(&self, a: sys::CUdevice_attribute) -> i64 {
        self.ctx.attribute(a).map(i64::from).unwrap_or(0)
    }

    pub(crate) fn cu_stream(&self) -> sys::CUstream {
        self.stream.cu_stream()
    }

    /// Allocate `bytes` of device memory (not initialised).
    pub(crate) fn alloc(&self, bytes: usize) -> Result<DevBuf, CalError> {
        self.bind()?;
        // SAFETY: plain cuMemAlloc of a positive size.
        let ptr = unsafe { result::malloc_sync(bytes.max(256)) }
            .map_err(|e| CalError::Cuda(format!("cuMemAlloc({bytes} bytes): {e:?}")))?;
        Ok(DevBuf {
            ptr,
            bytes,
            ctx: self.ctx.clone(),
        })
    }

    fn func(&self, name: &str) -> Result<sys::CUfunction, CalError> {
        self.funcs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| f.cu_function())
            .ok_or_else(|| CalError::Cuda(format!("kernel {name} not loaded")))
    }

    /// Launch kernel `name` on the timing stream.
    pub(crate) fn launch(
        &self,
        name: &str,
        grid: (u32, u32, u32),
        block: (u32, u32, u32),
        shmem: u32,
        args: &[Arg],
    ) -> Result<(), CalError> {
        let f = self.func(name)?;
        let mut vals: Vec<[u8; 8]> = args
            .iter()
            .map(|a| match *a {
                Arg::Ptr(p) | Arg::U64(p) => p.to_ne_bytes(),
                Arg::I32(v) => {
                    let mut b = [0u8; 8];
                    b[..4].copy_from_slice(&v.to_ne_bytes());
                    b
                }
                Arg::U32(v) => {
                    let mut b = [0u8; 8];
                    b[..4].copy_from_slice(&v.to_ne_bytes());
                    b
                }
                Arg::F32(v) => {
                    let mut b = [0u8; 8];
                    b[..4].copy_from_slice(&v.to_ne_bytes());
                    b
                }
            })
            .collect();
        let mut params: Vec<*mut c_void> = vals
            .iter_mut()
            .map(|v| v.as_mut_ptr() as *mut c_void)
            .collect();
        // SAFETY: params point at values of the kernel's parameter types, alive for the
        // call (the driver copies them); pointers are device allocations of this context.
        unsafe {
            result::launch_kernel(f, grid, block, shmem, self.cu_stream(), &mut params)
                .map_err(|e| CalError::Cuda(format!("launch {name}: {e:?}")))
        }
    }

    /// Wait for the stream and surface any asynchronous error.
    pub(crate) fn sync(&self) -> Result<(), CalError> {
        drv(self.stream.synchronize(), "cuStreamSynchronize")
    }

    /// Busy-wait kernel of `ns` nanoseconds (no-op when kernels are not loaded).
    pub(crate) fn spin(&self, ns: u64) -> Result<(), CalError> {
        if self.funcs.is_empty() {
            return Ok(());
        }
        self.launch("spin", (1, 1, 1), (32, 1, 1), 0, &[Arg::U64(ns)])
    }

    /// Fill `bytes` bytes with random non-zero values valid as bf16 pairs and as fp8.
    pub(crate) fn fill_bytes(&self, buf: &DevBuf, seed: u32) -> Result<(), CalError> {
        let words = (buf.bytes / 4) as u64;
        self.launch(
            "fill_bytes",
            (self.sm_count * 8, 1, 1),
            (256, 1, 1),
            0,
            &[Arg::Ptr(buf.ptr), Arg::U64(words), Arg::U32(seed)],
        )
    }

    /// Fill with random fp8 e4m3 values (no NaN; magnitudes 2^-9 to 3.75, subnormals and
    /// zeros included). `buf.bytes` must be a multiple of 4.
    pub(crate) fn fill_e4m3(&self, buf: &DevBuf, seed: u32) -> Result<(), CalError> {
        debug_assert!(buf.bytes.is_multiple_of(4));
        let words = (buf.bytes / 4) as u64;
        self.launch(
            "fill_e4m3",
            (self.sm_count * 8, 1, 1),
            (256, 1, 1),
            0,
            &[Arg::Ptr(buf.ptr), Arg::U64(words), Arg::U32(seed)],
        )
    }

    /// Fill with uniform bf16 in [-scale, scale].
    pub(crate) fn fill_bf16(&self, buf: &DevBuf, seed: u32, scale: f32) -> Result<(), CalError> {
        let n = (buf.bytes / 2) as u64;
        self.launch(
            "fill_bf16",
            (self.sm_count * 8, 1, 1),
            (256, 1, 1),
            0,
            &[
                Arg::Ptr(buf.ptr),
                Arg::U64(n),
                Arg::U32(seed),
                Arg::F32(scale),
            ],
        )
    }

    pub(crate) fn htod<T: Copy>(&self, dst: &DevBuf, src: &[T]) -> Result<(), CalError> {
        self.bind()?;
        debug_assert!(std::mem::size_of_val(src) <= dst.bytes);
        // SAFETY: dst holds at least size_of_val(src) bytes.
        drv(
            unsafe { result::memcpy_htod_sync(dst.ptr, src) },
            "cuMemcpyHtoD",
        )
    }

    pub(crate) fn dtoh<T: Copy>(&self, dst: &mut [T], src: &DevBuf) -> Result<(), CalError> {
        self.sync()?;
        // SAFETY: src holds at least size_of_val(dst) bytes.
        drv(
            unsafe { result::memcpy_dtoh_sync(dst, src.ptr) },
            "cuMemcpyDtoH",
        )
    }

    /// Median seconds of `f` (one call) over `reps` samples after `warmup` calls. Each
    /// sample times `inner` back-to-back calls between two events and divides.
    pub(crate) fn time<F: FnMut(usize) -> Result<(), CalError>>(
        &self,
        warmup: usize,
        reps: usize,
        inner: usize,
        mut f: F,
    ) -> Result<f64, CalError> {
        self.bind()?;
        let mut call = 0usize;
        for _ in 0..warmup {
            f(call)?;
            call += 1;
        }
        self.sync()?;
        let start = drv(
            result::event::create(sys::CUevent_flags::CU_EVENT_DEFAULT),
            "event",
        )?;
        let stop = drv(
            result::event::create(sys::CUevent_flags::CU_EVENT_DEFAULT),
            "event",
        )?;
        let mut samples = Vec::with_capacity(reps);
        let run = (|| {
            for _ in 0..reps.max(1) {
                // Keep the GPU busy while this sample's calls are enqueued.
                let ns = (inner.max(1) as u64 * 10_000 + 30_000).min(3_000_000);
                self.spin(ns)?;
                // SAFETY: events and stream belong to this context.
                unsafe { drv(result::event::record(start, self.cu_stream()), "record")? };
                for _ in 0..inner.max(1) {
                    f(call)?;
                    call += 1;
                }
                unsafe { drv(result::event::record(stop, self.cu_stream()), "record")? };
                unsafe { drv(result::event::synchronize(stop), "event sync")? };
                let ms = unsafe { drv(result::event::elapsed(start, stop), "elapsed")? };
                samples.push(f64::from(ms) * 1e-3 / inner.max(1) as f64);
            }
            Ok::<(), CalError>(())
        })();
        // SAFETY: created above, destroyed once.
        unsafe {
            let _ = result::event::destroy(start);
            let _ = result::event::destroy(stop);
        }
        run?;
        Ok(median(&mut samples))
    }

    /// Median seconds with the sample count chosen from a first measurement: about
    /// `target_s` of timed work per measurement, between 3 and `max_reps` samples, each
    /// sample at least ~20 µs of work.
    pub(crate) fn time_auto<F: FnMut(usize) -> Result<(), CalError>>(
        &self,
        target_s: f64,
        max_reps: usize,
        mut f: F,
    ) -> Result<f64, CalError> {
        let first = self.time(1, 1, 1, &mut f)?;
        let inner = ((20e-6 / first).ceil() as usize).clamp(1, 50);
        let reps = ((target_s / (first * inner as f64)) as usize).clamp(3, max_reps);
        self.time(1, reps, inner, f)
    }
}

/// Median of samples (sorted in place); 0 for none.
pub(crate) fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// bf16 bits to f32.
pub(crate) fn bf16_to_f32(b: u16) -> f32 {
    f32::from_bits(u32::from(b) << 16)
}

/// fp8 e4m3 bits to f64, exactly (bias 7, subnormals below exponent field 1; the NaN
/// encodings `0x7f`/`0xff` never occur in our caches and decode as NaN).
pub(crate) fn e4m3_to_f64(b: u8) -> f64 {
    let sign = if b & 0x80 != 0 { -1.0 } else { 1.0 };
    let (e, m) = (i32::from((b >> 3) & 0x0f), f64::from(b & 0x07));
    if b & 0x7f == 0x7f {
        f64::NAN
    } else if e == 0 {
        sign * m / 8.0 * 2f64.powi(-6)
    } else {
        sign * (1.0 + m / 8.0) * 2f64.powi(e - 7)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e4m3_decodes_exactly() {
        assert_eq!(e4m3_to_f64(0x00), 0.0);
        assert_eq!(e4m3_to_f64(0x38), 1.0); // exponent 7, mantissa 0
        assert_eq!(e4m3_to_f64(0xb8), -1.0);
        assert_eq!(e4m3_to_f64(0x7e), 448.0); // largest finite
        assert_eq!(e4m3_to_f64(0x01), 2f64.powi(-9)); // smallest subnormal
        assert_eq!(e4m3_to_f64(0x08), 2f64.powi(-6)); // smallest normal
        assert_eq!(e4m3_to_f64(0x44), 3.0); // 2^1 * 1.5
        assert!(e4m3_to_f64(0x7f).is_nan());
    }
}
