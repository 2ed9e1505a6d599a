//! What a cost model assumes, in words for reports: where each term comes from
//! (calibrated, extrapolated or roofline) and the roofline's efficiencies, constants and
//! approximations with their sources.
//!
//! Invariants: descriptions only read the model; nothing here changes a cost.

use super::CostModel;
use super::roofline::{ELEMENTWISE_FFN_PASSES, ELEMENTWISE_HIDDEN_PASSES};
use crate::TermSource;
use crate::calibrated::{GEMM_DOWN, GEMM_GATE_UP, GEMM_LM_HEAD, GEMM_O, GEMM_QKV, LogCurve};

impl CostModel {
    /// One line saying where the step costs come from.
    fn describe_source(&self) -> String {
        let Some(c) = &self.cal else {
            return "roofline (no calibration profile)".into();
        };
        let h = c.profile.header();
        let covered = |o: &Option<LogCurve>| if o.is_some() { "measured" } else { "roofline" };
        let allreduce = match (&c.allreduce, self.par.attention_tp() > 1) {
            (_, false) => "none at TP 1",
            (Some((_, TermSource::Extrapolated)), _) => "extrapolated from fewer GPUs",
            (Some(_), _) => "measured",
            (None, true) => "roofline",
        };
        format!(
            "calibrated where measured: {} ({}, {}); GEMMs QKV {} / O {} / gate-up {} / down {} / lm_head {}{}; prefill attention {}; decode attention {}; memory-bound {}; all-reduce {}; GEMMs at sustained clocks {}; roofline above the measured ranges; overhead assumed",
            c.origin,
            h.gpu_name,
            h.date_utc,
            if self.arch.mla.is_some() {
                if c.v2.mla_gemms.is_some() {
                    "measured (MLA projections)"
                } else {
                    "roofline (MLA projections)"
                }
            } else {
                covered(&c.gemms[GEMM_QKV])
            },
            if self.arch.mla.is_some() {
                "(in QKV)"
            } else {
                covered(&c.gemms[GEMM_O])
            },
            covered(&c.gemms[GEMM_GATE_UP]),
            covered(&c.gemms[GEMM_DOWN]),
            covered(&c.gemms[GEMM_LM_HEAD]),
            match (&self.moe, c.v2.moe_covered()) {
                (None, _) => String::new(),
                (Some(_), true) => format!(
                    " / MoE router + grouped experts{} measured",
                    if self
                        .arch
                        .moe
                        .as_ref()
                        .is_some_and(|m| m.num_shared_experts > 0)
                    {
                        " + shared experts"
                    } else {
                        ""
                    }
                ),
                (Some(_), false) =>
                    " / MoE experts roofline (TP split or dtype not measured)".into(),
            },
            match (&c.prefill, &c.v2.mla_prefill) {
                (Some(_), _) => "measured".to_string(),
                (None, Some((_, k))) => format!("measured (MLA, {k})"),
                (None, None) => "roofline".to_string(),
            },
            if c.decode_covered {
                "measured"
            } else if c.mla_decode.is_some() {
                "measured (absorbed MLA)"
            } else if self.arch.mla.is_some() && !self.mla_decode_measured {
                "roofline (absorbed MLA: the engines' FlashMLA-class kernels)"
            } else {
                "roofline"
            },
            if c.memory.is_some() {
                "measured"
            } else {
                "roofline"
            },
            allreduce,
            if c.v2.sustained {
                "(measured stacks)"
            } else {
                "no (not measured)"
            },
        )
    }

    /// The assumptions behind the numbers, as (name, value with source) pairs for reports.
    pub fn describe_assumptions(&self) -> Vec<(String, String)> {
        let g = &self.gpu;
        let e = &self.eff;
        let peak = g.peak_flops(self.weights) / 1e12;
        let pct = |x: f64| format!("{:.0}%", x * 100.0);
        let link = match g.interconnect.kind {
            crate::InterconnectKind::Nvlink => "NVLink",
            crate::InterconnectKind::Pcie => "PCIe",
        };
        vec![
            ("cost source".into(), self.describe_source()),
            (
                "model".into(),
                format!(
                    "{} ({:.1}B parameters, {:.1}B active; {})",
                    self.arch.id,
                    self.arch.param_count() / 1e9,
                    self.arch.active_param_count() / 1e9,
                    self.arch.hf_repo
                ),
            ),
            ("gpu".into(), format!("{} ({})", g.name, g.source)),
            (
                "tensor parallel".into(),
                format!(
                    "{} (all terms per GPU; ranks run in parallel)",
                    if self.par.is_plain_tp() {
                        self.tp.to_string()
                    } else {
                        self.par.label()
                    }
                ),
            ),
            (
                "weights / KV dtype".into(),
                format!("{} / {}", self.weights.name(), self.kv.name()),
            ),
            (
                "GEMM efficiency".into(),
                format!(
                    "{} of {peak:.0} TFLOP/s ({} weights) = {:.0} TFLOP/s (cuBLAS at large M on H100: 66-82% measured, 77% in aiconfigurator's database)",
                    pct(e.gemm_flops),
                    self.weights.name(),
                    self.gemm_flops_per_s / 1e12
                ),
            ),
            (
                "attention efficiency".into(),
                format!(
                    "{} of {:.0} BF16 TFLOP/s = {:.0} TFLOP/s (FlashAttention-3 on H100: 500-740 TFLOP/s forward)",
                    pct(e.attention_flops),
                    g.bf16_tflops,
                    self.attn_flops_per_s / 1e12
                ),
            ),
            (
                "memory bandwidth efficiency".into(),
                format!(
                    "{} of {:.0} GB/s = {:.0} GB/s (H100 copies reach 90-92%, weight-streaming GEMMs 66-85%; aiconfigurator uses 80%)",
                    pct(e.memory_bandwidth),
                    g.memory_bandwidth_gb_s,
                    self.mem_bytes_per_s / 1e9
                ),
            ),
            (
                "kernel latency".into(),
                format!(
                    "{:.1} us added to every kernel (aiconfigurator's empirical constant latency, 3 us)",
                    e.kernel_latency_s * 1e6
                ),
            ),
            (
                "all-reduce".into(),
                if self.par.attention_tp() > 1 {
                    (if self.par.dp_ranks() > 1 {
                        format!(
                            "2 per layer in each attention rank's TP {};",
                            self.par.attention_tp()
                        )
                    } else {
                        "2 per layer;".to_string()
                    }) + &format!(
                        " {:.0} us per call + 2(t-1)/t x bytes at {} of {:.0} GB/s {link} (NCCL 32 MB on 8 H100: 65% of 450 GB/s)",
                        self.allreduce_latency_s * 1e6,
                        pct(e.allreduce_bandwidth),
                        g.interconnect.bandwidth_gb_s
                    ) + &if self.allreduce_net.latency_s > 0.0 {
                        format!(
                            " within each node of {} GPUs; across its {} nodes NCCL's tree adds {:.0} us per call ({:.0} us per network hop) + 2(n-1)/n x bytes / {} at {} of {:.0} Gb/s per GPU's NIC",
                            g.gpus_per_node,
                            self.par.attention_tp().div_ceil(g.gpus_per_node.max(1)),
                            self.allreduce_net.latency_s * 1e6,
                            super::NET_HOP_LATENCY_S * 1e6,
                            g.gpus_per_node,
                            pct(e.allreduce_bandwidth),
                            g.nic_gbit_s
                        )
                    } else {
                        String::new()
                    }
                } else {
                    "none at TP 1".into()
                },
            ),
            (
                "memory-bound kernels".into(),
                format!(
                    "T x ({ELEMENTWISE_HIDDEN_PASSES} h + {ELEMENTWISE_FFN_PASSES} I/t + rotary + KV write) x 2 bytes per layer; fused add+RMSNorm x2, SiLU-mul, rotary, KV-cache write"
                ),
            ),
            (
                "step overhead".into(),
                format!(
                    "{:.2} ms per step + {:.0} us per sequence (vLLM V1 / SGLang with CUDA graphs: < 1 ms)",
                    e.step_overhead_s * 1e3,
                    e.per_seq_overhead_s * 1e6
                ),
            ),
            (
                "approximations".into(),
                if self.par.is_plain_tp() {
                    "MoE experts TP-sharded (no expert parallelism), distinct experts touched E(1-(1-k/E)^T); MLA approximate (absorbed decode, no extra absorbed GEMMs); no pipeline parallelism".into()
                } else {
                    format!(
                        "{}: experts split over EP, the busiest expert rank at the role's expert-imbalance times the mean tokens (1: balanced), each attention rank's share of a step balanced; dispatch/combine all-to-all from the link model (2 per MoE layer, counted in the all-reduce term); distinct experts touched E(1-(1-k/E)^T); MLA approximate (absorbed decode, no extra absorbed GEMMs); no pipeline parallelism",
                        self.par.label()
                    )
                },
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use crate::Dtype;
    use crate::cost::Efficiencies;
    use crate::cost::tests::model;

    #[test]
    fn assumptions_are_described() {
        let c = model("qwen3-32b", "h100", 2, Dtype::Fp8);
        let a = c.describe_assumptions();
        let find = |name: &str| {
            a.iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert!(find("GEMM efficiency").contains("1979 TFLOP/s"));
        assert!(find("all-reduce").contains("NVLink"));
        assert!(find("cost source").contains("roofline"));
        assert_eq!(c.efficiencies(), &Efficiencies::default());
        assert_eq!((c.tp(), c.weights(), c.kv()), (2, Dtype::Fp8, Dtype::Bf16));
    }
}
