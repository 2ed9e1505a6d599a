//! The interconnect terms of a step: the DP-attention all-to-all of MoE layers and the TP
//! all-reduce's per-byte cost within a node and its cross-node part (the link model; the
//! profile's measured curves, where they exist, price the one-node all-reduce instead).

use super::Efficiencies;
use super::roofline::ACT_BYTES;
use crate::{GpuSpec, ModelArch, Parallelism};

/// Seconds per byte of a TP all-reduce within one node: `2 (g-1)/g` over the GPU's link at
/// the all-reduce efficiency, `g` the group's GPUs on one node (all of them when the group
/// fits a node).
pub(super) fn node_allreduce_s_per_byte(gpu: &GpuSpec, t: u32, eff: &Efficiencies) -> f64 {
    let g = f64::from(t.min(gpu.gpus_per_node.max(1)));
    2.0 * (g - 1.0) / g / (gpu.interconnect.bandwidth_gb_s * 1e9 * eff.allreduce_bandwidth)
}

/// The dispatch and combine all-to-alls of DP-attention with MoE: calls per step (two per
/// MoE layer), seconds per byte one GPU sends, and bytes one GPU sends per token of its
/// attention rank; `(0, 0, 0)` without DP-attention or experts.
///
/// Each token goes once to every expert rank that holds one of its `k` experts,
/// `ep (1 - (1 - 1/ep)^k)` ranks in expectation (uniform routing), and to every GPU of
/// such a rank (`g / ep`), all but its own GPU's share remote (`(g - 1) / g`); the `g / dp`
/// GPUs of an attention rank share its tokens. `h` activations of 2 bytes go out and the
/// same come back. Traffic to other nodes (`(nodes - 1) / nodes` of it when the instance
/// spans nodes) crosses the NIC, the rest NVLink; both run at once, so a byte costs the
/// slower share's time. Bandwidths at the all-reduce efficiency.
pub(super) fn all_to_all(
    arch: &ModelArch,
    gpu: &GpuSpec,
    par: &Parallelism,
    eff: &Efficiencies,
) -> (f64, f64, f64) {
    let Some(m) = &arch.moe else {
        return (0.0, 0.0, 0.0);
    };
    if par.dp_ranks() == 1 {
        return (0.0, 0.0, 0.0);
    }
    let g = f64::from(par.gpus);
    let ep = f64::from(par.ep_ranks());
    let k = f64::from(m.experts_per_token);
    let ranks_hit = ep * (1.0 - (1.0 - 1.0 / ep).powf(k));
    let dests = ranks_hit * f64::from(par.moe_tp()) * (g - 1.0) / g;
    let bytes_per_token =
        dests * f64::from(arch.hidden_size) * ACT_BYTES / f64::from(par.attention_tp());
    let per_node = f64::from(gpu.gpus_per_node.max(1));
    let nodes = (g / per_node).ceil().max(1.0);
    let remote = (nodes - 1.0) / nodes;
    let nvlink = gpu.interconnect.bandwidth_gb_s * 1e9 * eff.allreduce_bandwidth;
    let nic = gpu.nic_gbit_s / 8.0 * 1e9 * eff.allreduce_bandwidth;
    let s_per_byte = ((1.0 - remote) / nvlink).max(if remote > 0.0 { remote / nic } else { 0.0 });
    (
        2.0 * f64::from(arch.num_moe_layers()),
        s_per_byte,
        bytes_per_token,
    )
}

/// The inter-node part of a TP all-reduce whose group of `t` GPUs spans `n > 1` nodes of
/// `g` GPUs: NCCL reduces hierarchically, within each node over NVLink (priced as a
/// one-node all-reduce of the same bytes over `g` GPUs) and across nodes by a tree
/// through each GPU's NIC. Across nodes each GPU carries `2 (n-1)/n` of its node's
/// `1/g` share of the bytes at the all-reduce efficiency of its NIC, after `2 log2(n)`
/// network hops of [`NET_HOP_LATENCY_S`] each (NCCL's tree latency model). Zero within a
/// node.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct AllreduceNet {
    /// Seconds per call.
    pub(super) latency_s: f64,
    /// Seconds per byte all-reduced.
    pub(super) s_per_byte: f64,
}

/// One network hop of NCCL's tree all-reduce with its low-latency protocol, seconds:
/// `hwLat[NCCL_HW_NET][NCCL_ALGO_TREE][NCCL_PROTO_LL]` = 5.0 us in NCCL's tuning model
/// (`src/graph/tuning.cc`).
pub const NET_HOP_LATENCY_S: f64 = 5e-6;

impl AllreduceNet {
    pub(super) fn new(gpu: &GpuSpec, t: u32, eff: &Efficiencies) -> AllreduceNet {
        let per_node = gpu.gpus_per_node.max(1);
        let nodes = t.div_ceil(per_node);
        if t <= 1 || nodes <= 1 {
            return AllreduceNet::default();
        }
        let (n, g) = (f64::from(nodes), f64::from(t.min(per_node)));
        let nic = gpu.nic_gbit_s / 8.0 * 1e9 * eff.allreduce_bandwidth;
        AllreduceNet {
            latency_s: 2.0 * n.log2().ceil() * NET_HOP_LATENCY_S,
            s_per_byte: 2.0 * (n - 1.0) / n / g / nic,
        }
    }

    /// Seconds of one call on `bytes`; 0 within a node.
    pub(super) fn seconds(&self, bytes: f64) -> f64 {
        if self.latency_s == 0.0 {
            return 0.0;
        }
        self.latency_s + bytes * self.s_per_byte
    }
}
