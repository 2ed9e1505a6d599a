//! GEMMs through cuBLASLt: `C[m,n] (bf16) = X[m,k] · W[n,k]ᵀ` as a linear layer computes
//! it, with bf16 operands or fp8 e4m3 operands with per-tensor scales (the "TN" layout
//! Hopper's fp8 kernels need), fp32 accumulation, the heuristic's first algorithm and a
//! 32 MiB workspace.
//!
//! Invariants: the weight operand rotates through an arena larger than L2, so a timed
//! GEMM reads its weight from HBM as it does in a real forward pass (where other layers'
//! weights evict it); operands hold random non-zero data, never zeros.

use crate::device::{DevBuf, Gpu};
use crate::error::CalError;
use cudarc::cublaslt::{result as lt, sys as ls};
use std::ffi::c_void;
use xpyd_models::Dtype;

const WORKSPACE: usize = 32 << 20;

fn cb<T>(r: Result<T, lt::CublasError>, what: &str) -> Result<T, CalError> {
    r.map_err(|e| CalError::Cublas(format!("{what}: {e:?}")))
}

/// A cuBLASLt handle with its workspace and fp8 scale factors.
pub(crate) struct Lt {
    handle: ls::cublasLtHandle_t,
    workspace: DevBuf,
    scales: DevBuf,
}

impl Drop for Lt {
    fn drop(&mut self) {
        // SAFETY: created in `new`, destroyed once.
        let _ = unsafe { lt::destroy_handle(self.handle) };
    }
}

/// Owned cuBLASLt descriptors, destroyed on drop.
struct Descs {
    op: ls::cublasLtMatmulDesc_t,
    a: ls::cublasLtMatrixLayout_t,
    b: ls::cublasLtMatrixLayout_t,
    c: ls::cublasLtMatrixLayout_t,
    pref: ls::cublasLtMatmulPreference_t,
}

impl Drop for Descs {
    fn drop(&mut self) {
        // SAFETY: each was created once below.
        unsafe {
            let _ = lt::destroy_matmul_pref(self.pref);
            let _ = lt::destroy_matrix_layout(self.c);
            let _ = lt::destroy_matrix_layout(self.b);
            let _ = lt::destroy_matrix_layout(self.a);
            let _ = lt::destroy_matmul_desc(self.op);
        }
    }
}

impl Lt {
    pub(crate) fn new(gpu: &Gpu) -> Result<Lt, CalError> {
        gpu.bind()?;
        let handle = cb(lt::create_handle(), "cublasLtCreate")?;
        let workspace = gpu.alloc(WORKSPACE)?;
        let scales = gpu.alloc(256)?;
        gpu.htod(&scales, &[1.0f32, 1.0, 1.0, 1.0])?;
        Ok(Lt {
            handle,
            workspace,
            scales,
        })
    }

    /// cuBLASLt library version (e.g. 130100).
    pub(crate) fn version() -> usize {
        // SAFETY: a plain version query.
        unsafe { ls::cublasLtGetVersion() }
    }

    /// Median seconds of one `m × n × k` GEMM in `dtype`. `arena` holds random data and
    /// must hold at least `m·k + n·k` elements; `out` at least `m·n` bf16.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn time_gemm(
        &self,
        gpu: &Gpu,
        arena: &DevBuf,
        out: &DevBuf,
        m: u64,
        n: u64,
        k: u64,
        dtype: Dtype,
        target_s: f64,
    ) -> Result<f64, CalError> {
        gpu.bind()?;
        let (ab_type, elem) = match dtype {
            Dtype::Bf16 => (ls::cudaDataType_t::CUDA_R_16BF, 2u64),
            Dtype::Fp8 => (ls::cudaDataType_t::CUDA_R_8F_E4M3, 1u64),
        };
        let align = |x: u64| x.div_ceil(256) * 256;
        let a_bytes = align(n * k * elem);
        let b_bytes = align(m * k * elem);
        let c_bytes = m * n * 2;
        if a_bytes + b_bytes > arena.bytes as u64 || c_bytes > out.bytes as u64 {
            return Err(CalError::Cuda(format!(
                "GEMM {m}x{n}x{k} does not fit the benchmark buffers"
            )));
        }
        let b_off = (arena.bytes as u64 - b_bytes) / 256 * 256;
        let slots = (b_off / a_bytes).clamp(1, 16);
        let d = Descs {
            op: cb(
                lt::create_matmul_desc(
                    ls::cublasComputeType_t::CUBLAS_COMPUTE_32F,
                    ls::cudaDataType_t::CUDA_R_32F,
                ),
                "matmul desc",
            )?,
            a: cb(
                lt::create_matrix_layout(ab_type, k, n, k as i64),
                "layout A",
            )?,
            b: cb(
                lt::create_matrix_layout(ab_type, k, m, k as i64),
                "layout B",
            )?,
            c: cb(
                lt::create_matrix_layout(ls::cudaDataType_t::CUDA_R_16BF, n, m, n as i64),
                "layout C",
            )?,
            pref: cb(lt::create_matmul_pref(), "preference")?,
        };
        let trans_t: i32 = 1; // CUBLAS_OP_T
        let trans_n: i32 = 0; // CUBLAS_OP_N
        let ws = WORKSPACE as u64;
        // SAFETY: attribute values point at live locals of the documented types.
        unsafe {
            cb(
                lt::set_matmul_desc_attribute(
                    d.op,
                    ls::cublasLtMatmulDescAttributes_t::CUBLASLT_MATMUL_DESC_TRANSA,
                    &trans_t as *const _ as *const c_void,
                    std::mem::size_of_val(&trans_t),
                ),
                "TRANSA",
            )?;
            cb(
                lt::set_matmul_desc_attribute(
                    d.op,
                    ls::cublasLtMatmulDescAttributes_t::CUBLASLT_MATMUL_DESC_TRANSB,
                    &trans_n as *const _ as *const c_void,
                    std::mem::size_of_val(&trans_n),
                ),
                "TRANSB",
            )?;
            if dtype == Dtype::Fp8 {
                let sp = self.scales.ptr;
                for attr in [
                    ls::cublasLtMatmulDescAttributes_t::CUBLASLT_MATMUL_DESC_A_SCALE_POINTER,
                    ls::cublasLtMatmulDescAttributes_t::CUBLASLT_MATMUL_DESC_B_SCALE_POINTER,
                ] {
                    cb(
                        lt::set_matmul_desc_attribute(
                            d.op,
                            attr,
                            &sp as *const _ as *const c_void,
                            std::mem::size_of_val(&sp),
                        ),
                        "scale pointer",
                    )?;
                }
            }
            cb(
                lt::set_matmul_pref_attribute(
                    d.pref,
                    ls::cublasLtMatmulPreferenceAttributes_t::CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                    &ws as *const _ as *const c_void,
                    std::mem::size_of_val(&ws),
                ),
                "workspace pref",
            )?;
        }
        // SAFETY: descriptors are live.
        let heur = cb(
            unsafe { lt::get_matmul_algo_heuristic(self.handle, d.op, d.a, d.b, d.c, d.c, d.pref) },
            &format!("no algorithm for {m}x{n}x{k} {}", dtype.name()),
        )?;
        let alpha = 1.0f32;
        let beta = 0.0f32;
        let stream = gpu.cu_stream() as ls::cudaStream_t;
        let mut run = |call: usize| -> Result<(), CalError> {
            let a = arena.at(((call as u64 % slots) * a_bytes) as usize);
            let b = arena.at(b_off as usize);
            // SAFETY: a, b, out and the workspace are device buffers large enough for the
            // layouts (checked above); descriptors and algo are live.
            cb(
                unsafe {
                    lt::matmul(
                        self.handle,
                        d.op,
                        &alpha as *const f32 as *const c_void,
                        &beta as *const f32 as *const c_void,
                        a as *const c_void,
                        d.a,
                        b as *const c_void,
                        d.b,
                        out.ptr as *const c_void,
                        d.c,
                        out.ptr as *mut c_void,
                        d.c,
                        &heur.algo,
                        self.workspace.ptr as *mut c_void,
                        WORKSPACE,
                        stream,
                    )
                },
                "cublasLtMatmul",
            )
        };
        gpu.time_auto(target_s, 50, &mut run)
    }
}
