//! GPUs and the links between them: the built-in catalog, with datasheet sources.

use serde::{Deserialize, Serialize};

/// How GPUs inside one node talk to each other.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InterconnectKind {
    /// NVLink (through NVSwitch on HGX boards).
    Nvlink,
    /// PCIe only.
    Pcie,
}

/// Intra-node GPU-to-GPU link.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interconnect {
    /// NVLink or PCIe.
    pub kind: InterconnectKind,
    /// Unidirectional bandwidth per GPU, GB/s (1e9 bytes/s).
    pub bandwidth_gb_s: f64,
    /// One-way latency of a small message, microseconds.
    pub latency_us: f64,
}

/// A GPU model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GpuSpec {
    /// Catalog id (`h100`).
    pub id: String,
    /// Marketing name (`NVIDIA H100 SXM5 80GB`).
    pub name: String,
    /// Dense BF16 tensor-core throughput, TFLOP/s (no sparsity).
    pub bf16_tflops: f64,
    /// Dense FP8 tensor-core throughput, TFLOP/s (no sparsity); equals bf16 where FP8 is unsupported.
    pub fp8_tflops: f64,
    /// Device memory, GiB.
    pub memory_gib: f64,
    /// HBM/GDDR bandwidth, GB/s.
    pub memory_bandwidth_gb_s: f64,
    /// Intra-node link.
    pub interconnect: Interconnect,
    /// Typical RDMA NIC bandwidth per GPU in the usual server, Gbit/s.
    pub nic_gbit_s: f64,
    /// GPUs per node in the usual server.
    pub gpus_per_node: u32,
    /// Where the numbers come from.
    pub source: String,
}

/// Why a GPU could not be resolved. Fatal.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    /// The id is not in the catalog.
    #[error("unknown GPU `{id}`; built-in GPUs: {known}")]
    Unknown {
        /// The id asked for.
        id: String,
        /// Comma-separated catalog ids.
        known: String,
    },
}

impl GpuSpec {
    /// The built-in catalog ids.
    pub fn catalog_ids() -> &'static [&'static str] {
        todo!()
    }

    /// A GPU from the built-in catalog.
    pub fn builtin(id: &str) -> Result<GpuSpec, GpuError> {
        let _ = id;
        todo!()
    }
}
