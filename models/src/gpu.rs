//! GPUs and the links between them: the built-in catalog, with datasheet sources.
//!
//! Conventions (invariants of every catalog entry):
//!
//! - TFLOP/s are dense tensor-core peaks (the datasheets' "with sparsity" figures halved).
//! - `memory_gib` is the capacity CUDA reports as the device total
//!   (`cudaMemGetInfo`/`torch.cuda.mem_get_info()[1]`), which is what vLLM's
//!   `--gpu-memory-utilization` and SGLang's `--mem-fraction-static` multiply. It is a
//!   little below the marketing GB (1e9) figure converted to GiB, because the driver
//!   reserves some memory. Measured where stated, else `nvidia-smi`'s total less the
//!   ~0.5 GiB the driver typically reserves.
//! - Link bandwidths are unidirectional per GPU, GB/s (1e9 bytes/s): half the
//!   bidirectional NVLink datasheet figure; PCIe x16 per direction.
//! - `nic_gbit_s` is the scale-out RDMA bandwidth per GPU in the usual server.

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

/// Catalog ids, in the order reports list them.
const CATALOG: &[&str] = &["h100", "h200", "h20", "l20", "a100", "b200"];

/// NVLink one-way small-message latency, microseconds (GPU-to-GPU through NVSwitch).
const NVLINK_LATENCY_US: f64 = 3.0;
/// PCIe peer-to-peer one-way small-message latency, microseconds.
const PCIE_LATENCY_US: f64 = 8.0;

fn nvlink(unidirectional_gb_s: f64) -> Interconnect {
    Interconnect {
        kind: InterconnectKind::Nvlink,
        bandwidth_gb_s: unidirectional_gb_s,
        latency_us: NVLINK_LATENCY_US,
    }
}

impl GpuSpec {
    /// The built-in catalog ids.
    pub fn catalog_ids() -> &'static [&'static str] {
        CATALOG
    }

    /// A GPU from the built-in catalog.
    pub fn builtin(id: &str) -> Result<GpuSpec, GpuError> {
        let spec = match id {
            "h100" => GpuSpec {
                id: id.to_owned(),
                name: "NVIDIA H100 SXM5 80GB".to_owned(),
                bf16_tflops: 989.4,
                fp8_tflops: 1978.9,
                // Measured: CUDA total 85,017,493,504 B = 79.18 GiB (nvidia-smi: 81,559 MiB).
                memory_gib: 79.18,
                memory_bandwidth_gb_s: 3350.0,
                // NVLink 4: 900 GB/s bidirectional per GPU.
                interconnect: nvlink(450.0),
                // HGX/DGX H100: one ConnectX-7 400 Gb/s NDR NIC per GPU.
                nic_gbit_s: 400.0,
                gpus_per_node: 8,
                source: "NVIDIA H100 Tensor Core GPU datasheet, H100 SXM column (989 TFLOPS BF16 and 1,979 FP8 dense, 3.35 TB/s HBM3, NVLink 900 GB/s); DGX H100 (8x ConnectX-7 400 Gb/s); memory measured with cudaMemGetInfo".to_owned(),
            },
            "h200" => GpuSpec {
                id: id.to_owned(),
                name: "NVIDIA H200 SXM 141GB".to_owned(),
                bf16_tflops: 989.4,
                fp8_tflops: 1978.9,
                // Measured: CUDA total 150,109,880,320 B = 139.80 GiB (nvidia-smi: 143,771 MiB).
                memory_gib: 139.80,
                memory_bandwidth_gb_s: 4800.0,
                interconnect: nvlink(450.0),
                nic_gbit_s: 400.0,
                gpus_per_node: 8,
                source: "NVIDIA H200 Tensor Core GPU datasheet, H200 SXM column (989 TFLOPS BF16 and 1,979 FP8 dense, 141 GB HBM3e at 4.8 TB/s, NVLink 900 GB/s); HGX H200 with ConnectX-7 400 Gb/s per GPU; memory measured with cudaMemGetInfo".to_owned(),
            },
            "h20" => GpuSpec {
                id: id.to_owned(),
                name: "NVIDIA H20 96GB".to_owned(),
                bf16_tflops: 148.0,
                fp8_tflops: 296.0,
                // nvidia-smi total 97,871 MiB = 95.58 GiB, less ~0.5 GiB driver reservation.
                memory_gib: 95.0,
                memory_bandwidth_gb_s: 4000.0,
                interconnect: nvlink(450.0),
                // 8-GPU HGX H20 servers ship one 400 Gb/s NIC (ConnectX-7/BlueField-3) per GPU.
                nic_gbit_s: 400.0,
                gpus_per_node: 8,
                source: "NVIDIA H20 product brief (148 TFLOPS BF16 and 296 FP8 dense, 96 GB HBM3 at 4.0 TB/s, NVLink 900 GB/s, PCIe Gen5 x16); 400 Gb/s NIC per GPU in HGX H20 servers".to_owned(),
            },
            "l20" => GpuSpec {
                id: id.to_owned(),
                name: "NVIDIA L20 48GB (PCIe)".to_owned(),
                bf16_tflops: 119.5,
                fp8_tflops: 239.0,
                // nvidia-smi total 46,068 MiB = 44.99 GiB (48 GB GDDR6 with ECC), less ~0.5 GiB.
                memory_gib: 44.5,
                memory_bandwidth_gb_s: 864.0,
                // No NVLink: PCIe Gen4 x16, 16 GT/s x 16 lanes x 128/130 = 31.5 GB/s each way.
                interconnect: Interconnect {
                    kind: InterconnectKind::Pcie,
                    bandwidth_gb_s: 31.5,
                    latency_us: PCIE_LATENCY_US,
                },
                // Alibaba Cloud ecs.ebmgn8is.32xlarge (8x L20): 160 Gbit/s (80 x 2) network
                // baseline bandwidth with eRDMA for the whole instance = 20 Gbit/s per GPU.
                nic_gbit_s: 20.0,
                gpus_per_node: 8,
                source: "NVIDIA L20 datasheet (119.5 TFLOPS BF16 and 239 FP8 dense, 48 GB GDDR6 at 864 GB/s, PCIe Gen4 x16, no NVLink); Alibaba Cloud ebmgn8is instance family page (ecs.ebmgn8is.32xlarge: 8x L20, 160 Gbit/s eRDMA network)".to_owned(),
            },
            "a100" => GpuSpec {
                id: id.to_owned(),
                name: "NVIDIA A100 SXM4 80GB".to_owned(),
                bf16_tflops: 312.0,
                // No FP8 tensor cores: FP8 weights are upcast and run at the BF16 rate.
                fp8_tflops: 312.0,
                // nvidia-smi total 81,920 MiB = 80.0 GiB, less ~0.7 GiB (CUDA reports ~79.3 GiB).
                memory_gib: 79.3,
                memory_bandwidth_gb_s: 2039.0,
                // NVLink 3: 600 GB/s bidirectional per GPU.
                interconnect: nvlink(300.0),
                // DGX A100: 8x ConnectX-6 HDR 200 Gb/s for the compute fabric.
                nic_gbit_s: 200.0,
                gpus_per_node: 8,
                source: "NVIDIA A100 Tensor Core GPU datasheet, A100 80GB SXM column (312 TFLOPS BF16 dense, 2,039 GB/s HBM2e, NVLink 600 GB/s); DGX A100 datasheet (8x ConnectX-6 200 Gb/s)".to_owned(),
            },
            "b200" => GpuSpec {
                id: id.to_owned(),
                name: "NVIDIA B200 180GB (HGX B200)".to_owned(),
                bf16_tflops: 2250.0,
                fp8_tflops: 4500.0,
                // HGX B200: 1,440 GB for 8 GPUs = 180 GB; nvidia-smi ~183,359 MiB = 179.06 GiB,
                // less ~0.6 GiB.
                memory_gib: 178.4,
                memory_bandwidth_gb_s: 8000.0,
                // NVLink 5: 1.8 TB/s bidirectional per GPU.
                interconnect: nvlink(900.0),
                // DGX/HGX B200: 8x ConnectX-7 400 Gb/s.
                nic_gbit_s: 400.0,
                gpus_per_node: 8,
                source: "NVIDIA HGX B200 / DGX B200 datasheets (per GPU: 2.25 PFLOPS BF16 and 4.5 PFLOPS FP8 dense, 180 GB HBM3e, 64 TB/s per 8 GPUs = 8 TB/s, NVLink 5 1.8 TB/s, 8x ConnectX-7 400 Gb/s)".to_owned(),
            },
            _ => {
                return Err(GpuError::Unknown {
                    id: id.to_owned(),
                    known: CATALOG.join(", "),
                });
            }
        };
        Ok(spec)
    }

    /// Dense tensor-core peak for GEMMs whose weights are stored as `weights`, FLOP/s.
    ///
    /// FP8 weights run on the FP8 tensor cores where the GPU has them (`fp8_tflops`,
    /// equal to `bf16_tflops` on A100).
    pub fn peak_flops(&self, weights: crate::Dtype) -> f64 {
        match weights {
            crate::Dtype::Bf16 => self.bf16_tflops * 1e12,
            crate::Dtype::Fp8 => self.fp8_tflops * 1e12,
        }
    }

    /// Device memory in bytes (`memory_gib x 2^30`).
    pub fn memory_bytes(&self) -> f64 {
        self.memory_gib * GIB
    }

    /// Memory bandwidth, bytes/s.
    pub fn memory_bandwidth_bytes_s(&self) -> f64 {
        self.memory_bandwidth_gb_s * 1e9
    }
}

/// Bytes per GiB.
pub(crate) const GIB: f64 = 1_073_741_824.0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalog_id_resolves() {
        for id in GpuSpec::catalog_ids() {
            let g = GpuSpec::builtin(id).expect("catalog id resolves");
            assert_eq!(&g.id, id);
            assert!(g.bf16_tflops > 0.0 && g.fp8_tflops >= g.bf16_tflops);
            assert!(g.memory_gib > 40.0 && g.memory_bandwidth_gb_s > 500.0);
            assert!(g.interconnect.bandwidth_gb_s > 0.0 && g.interconnect.latency_us > 0.0);
            assert!(g.nic_gbit_s > 0.0 && g.gpus_per_node > 0);
            assert!(!g.source.is_empty() && !g.name.is_empty());
        }
    }

    #[test]
    fn unknown_id_lists_known_ones() {
        let e = GpuSpec::builtin("mi300x").unwrap_err().to_string();
        assert!(e.contains("mi300x"), "{e}");
        for id in GpuSpec::catalog_ids() {
            assert!(e.contains(id), "{e}");
        }
    }

    #[test]
    fn conventions() {
        let h100 = GpuSpec::builtin("h100").unwrap();
        assert_eq!(h100.interconnect.kind, InterconnectKind::Nvlink);
        assert_eq!(h100.interconnect.bandwidth_gb_s, 450.0);
        assert!((h100.memory_gib - 79.2).abs() < 0.1);
        let l20 = GpuSpec::builtin("l20").unwrap();
        assert_eq!(l20.interconnect.kind, InterconnectKind::Pcie);
        let a100 = GpuSpec::builtin("a100").unwrap();
        assert_eq!(a100.fp8_tflops, a100.bf16_tflops);
        assert_eq!(
            a100.peak_flops(crate::Dtype::Fp8),
            a100.peak_flops(crate::Dtype::Bf16)
        );
        assert!(
            (h100.peak_flops(crate::Dtype::Fp8) / h100.peak_flops(crate::Dtype::Bf16) - 2.0).abs()
                < 1e-3
        );
    }
}
