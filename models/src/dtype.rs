//! Numeric formats of weights and KV cache.
//!
//! Invariant: [`Dtype::bytes`] is the storage size of one element; activations are BF16
//! (2 bytes) whatever the weight format, and FP8 scales are not counted (under 0.1% with
//! per-tensor or 128x128 block scales).

use serde::{Deserialize, Serialize};

/// Storage format of weights or KV cache.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dtype {
    /// bfloat16: 2 bytes per element.
    Bf16,
    /// 8-bit float (e4m3): 1 byte per element; GEMMs run on the FP8 tensor cores.
    Fp8,
}

impl Dtype {
    /// Bytes per element.
    pub fn bytes(self) -> f64 {
        match self {
            Dtype::Bf16 => 2.0,
            Dtype::Fp8 => 1.0,
        }
    }

    /// The name used in scenario files and reports (`bf16`, `fp8`).
    pub fn name(self) -> &'static str {
        match self {
            Dtype::Bf16 => "bf16",
            Dtype::Fp8 => "fp8",
        }
    }
}

/// Format of a measured grouped-expert GEMM (`moe_experts[].dtype` of a profile): the
/// model formats, plus MXFP4 experts (bf16 activations times OCP MXFP4 weights
/// dequantised in the kernel, as gpt-oss runs on GPUs without FP4 tensor cores).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExpertDtype {
    /// bf16 weights and activations.
    Bf16,
    /// fp8 (e4m3) weights and activations.
    Fp8,
    /// MXFP4 weights (4.25 bits), bf16 activations.
    Mxfp4,
}

impl ExpertDtype {
    /// The name in profiles and `moe_bench` files (`bf16`, `fp8`, `mxfp4`).
    pub fn name(self) -> &'static str {
        match self {
            ExpertDtype::Bf16 => "bf16",
            ExpertDtype::Fp8 => "fp8",
            ExpertDtype::Mxfp4 => "mxfp4",
        }
    }
}

impl From<Dtype> for ExpertDtype {
    fn from(d: Dtype) -> Self {
        match d {
            Dtype::Bf16 => ExpertDtype::Bf16,
            Dtype::Fp8 => ExpertDtype::Fp8,
        }
    }
}
