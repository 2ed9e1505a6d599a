//! The published deployments of SemiAnalysis InferenceX's multinode disaggregated (Dynamo)
//! DeepSeek-R1 FP8 runs on H100 and H200, for the silicon-sample CSV rows that record each
//! role's split and the client concurrency but not the worker counts (`source_file=
//! 2026-03-25.csv` and `2026-04-06.csv`, engine image in `silicon_data_source`).
//!
//! Source: `SemiAnalysisAI/InferenceX`, `.github/configs/nvidia-master.yaml` at commit
//! [`COMMIT`] (the stored version whose four Dynamo entries carry the images the rows
//! record: `dsr1-fp8-h100-dynamo-trt` `nvcr.io/nvidia/ai-dynamo/tensorrtllm-runtime:
//! 0.8.1.post3`, `dsr1-fp8-h200-dynamo-trt` `...:0.8.1.post1`,
//! `dsr1-fp8-h100-dynamo-sglang` `lmsysorg/sglang:v0.5.8-cu130`,
//! `dsr1-fp8-h200-dynamo-sglang` `lmsysorg/sglang:v0.5.8.post1-cu130`). [`ENTRIES`] keeps,
//! per entry, the `search-space` items (each `seq-len-configs` isl/osl, `conc-list`,
//! `spec-decoding`, `prefill`/`decode` `{num-worker, tp, ep, dp-attn}` and its
//! `CONFIG_FILE`) that some H100/H200 row of the CSV matches, in the file's order; items
//! no row matches are left out. An older stored version read (`48f302cc`) lists the same
//! H200 TensorRT-LLM concurrencies (4 to 512); neither lists the ones most H200
//! TensorRT-LLM rows were measured at (9, 36, 72, 144, 1152, ...), so those rows match
//! nothing and keep their reason. The `CONFIG_FILE` recipes (repository
//! `ishandhanani/srt-slurm`, branch `sa-submission-q1-2026`) are not stored for the
//! deployments replayed here, so no engine setting beyond the sizes is carried over.
//!
//! How a row is matched (checked on the 17 measurements that appear twice in the CSV, once
//! as such a row and once as a `db-dump/...` row that records both roles and their workers,
//! e.g. TensorRT-LLM H200 1k/1k at 1152 clients, `config_id=321`): the conversion wrote
//! InferenceX's GPUs per instance and EP as the silicon CSV's split (`tp_size x
//! attention_dp_size` GPUs, `moe_ep_size`, read as `silicon.rs` reads every row), but the
//! prefill's split for both roles and no DP-attention (every one of the 132 rows repeats its
//! prefill columns in its decode columns with `attention_dp_size` 1; the `db-dump` twin of
//! SGLang H200 8k/1k at 256 clients, `config_id=434`, records a DEP8 decode where its
//! `source_file` row says TP 8 without EP). So an item matches a row of the same engine,
//! GPU, model, FP8 weights, image, isl, osl and concurrency whose recorded prefill split is
//! the item's prefill `tp` (GPUs) and `ep`; the row's decode columns are compared only where
//! they differ from its prefill columns, and a recorded DP-attention (> 1) needs the item's.
//! The replay takes both roles, DP-attention included, from the item.
//!
//! Invariants: the table is static and a lookup reads nothing else (deterministic); a row
//! is replayed only when every matching item is without MTP and all name one deployment.

use super::Split;

/// The InferenceX commit the table was read from.
pub(super) const COMMIT: &str = "0004cf5f2577a1c1007a9bed7cc7d55656519507";

/// One role of a published deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Role {
    /// Instances of the role (`num-worker`).
    pub(super) workers: u32,
    /// GPUs per instance (`tp`).
    pub(super) tp: u32,
    /// Expert-parallel ranks (`ep`).
    pub(super) ep: u32,
    /// Attention data parallelism over all `tp` GPUs (`dp-attn`).
    pub(super) dp_attn: bool,
}

impl Role {
    /// The role's split in the replay's terms: `tp` GPUs, DP-attention over all of them
    /// when set, EP `ep`.
    pub(super) fn split(self) -> Split {
        Split {
            gpus: self.tp,
            dp: if self.dp_attn { self.tp } else { 1 },
            ep: self.ep,
        }
    }

    /// `3 x TP16/EP16 DP-attention`.
    fn describe(self) -> String {
        format!(
            "{} x TP{}/EP{}{}",
            self.workers,
            self.tp,
            self.ep,
            if self.dp_attn { " DP-attention" } else { "" }
        )
    }

    /// Whether a recorded split is this role's.
    fn fits(self, recorded: Split) -> bool {
        recorded.gpus == self.tp && recorded.ep == self.ep && (recorded.dp <= 1 || self.dp_attn)
    }
}

/// One `search-space` item.
#[derive(Clone, Copy, Debug)]
struct Item {
    isl: u32,
    osl: u32,
    /// `spec-decoding: "mtp"`.
    mtp: bool,
    conc: &'static [u32],
    prefill: Role,
    decode: Role,
    /// The item's `CONFIG_FILE` (its recipe in `ishandhanani/srt-slurm`).
    config_file: &'static str,
}

/// One entry of `nvidia-master.yaml` and what a CSV row records of it.
#[derive(Clone, Copy, Debug)]
struct Entry {
    /// The entry's key.
    name: &'static str,
    /// `image`, as the row's `silicon_data_source` records it.
    image: &'static str,
    /// The CSV's `backend` (`framework: dynamo-trt` / `dynamo-sglang`).
    backend: &'static str,
    /// The replay's GPU (`runner: h100-multinode` / `h200-multinode`).
    gpu: &'static str,
    /// The CSV's `model_path` (InferenceX's `model: deepseek-ai/DeepSeek-R1-0528`,
    /// `precision: fp8`).
    model_path: &'static str,
    items: &'static [Item],
}

const fn role(workers: u32, tp: u32, ep: u32, dp_attn: bool) -> Role {
    Role {
        workers,
        tp,
        ep,
        dp_attn,
    }
}

const fn item(
    (isl, osl): (u32, u32),
    mtp: bool,
    conc: &'static [u32],
    prefill: Role,
    decode: Role,
    config_file: &'static str,
) -> Item {
    Item {
        isl,
        osl,
        mtp,
        conc,
        prefill,
        decode,
        config_file,
    }
}

const K1K1: (u32, u32) = (1024, 1024);
const K1K8: (u32, u32) = (1024, 8192);
const K8K1: (u32, u32) = (8192, 1024);
const MTP: bool = true;
const STP: bool = false;

/// The entries at [`COMMIT`], items no CSV row matches left out.
#[rustfmt::skip]
const ENTRIES: &[Entry] = &[
    Entry {
        name: "dsr1-fp8-h100-dynamo-trt",
        image: "nvcr.io/nvidia/ai-dynamo/tensorrtllm-runtime:0.8.1.post3",
        backend: "trtllm",
        gpu: "h100",
        model_path: "deepseek-ai/DeepSeek-R1",
        items: &[
            item(K1K1, MTP, &[9], role(1, 16, 16, true), role(3, 16, 16, false), "recipes/trtllm/h100-fp8/1k1k/mtp/ctx1_gen3_tep16_batch2_eplb0_mtp3.yaml"),
            item(K1K1, MTP, &[60], role(1, 16, 16, true), role(3, 16, 16, false), "recipes/trtllm/h100-fp8/1k1k/mtp/ctx1_gen3_tep16_batch16_eplb0_mtp3.yaml"),
            item(K1K1, MTP, &[117], role(1, 16, 16, true), role(3, 16, 16, false), "recipes/trtllm/h100-fp8/1k1k/mtp/ctx1_gen3_tep16_batch32_eplb0_mtp3.yaml"),
            item(K1K1, MTP, &[462], role(1, 16, 16, true), role(3, 16, 16, false), "recipes/trtllm/h100-fp8/1k1k/mtp/ctx1_gen3_tep16_batch128_eplb0_mtp3.yaml"),
            item(K1K1, MTP, &[615], role(1, 16, 16, true), role(1, 16, 16, true), "recipes/trtllm/h100-fp8/1k1k/mtp/ctx1_gen1_dep16_batch32_eplb0_mtp2.yaml"),
            item(K1K1, MTP, &[1229], role(1, 16, 16, true), role(1, 16, 16, true), "recipes/trtllm/h100-fp8/1k1k/mtp/ctx1_gen1_dep16_batch64_eplb0_mtp1.yaml"),
            item(K1K1, STP, &[9], role(1, 16, 16, true), role(3, 16, 16, false), "recipes/trtllm/h100-fp8/1k1k/stp/ctx1_gen3_tep16_batch2_eplb0_mtp0.yaml"),
            item(K1K1, STP, &[60], role(1, 16, 16, true), role(3, 16, 16, false), "recipes/trtllm/h100-fp8/1k1k/stp/ctx1_gen3_tep16_batch16_eplb0_mtp0.yaml"),
            item(K1K1, STP, &[462], role(1, 16, 16, true), role(3, 16, 16, true), "recipes/trtllm/h100-fp8/1k1k/stp/ctx1_gen3_dep16_batch8_eplb0_mtp0.yaml"),
            item(K1K1, STP, &[924], role(1, 16, 16, true), role(3, 16, 16, true), "recipes/trtllm/h100-fp8/1k1k/stp/ctx1_gen3_dep16_batch16_eplb0_mtp0.yaml"),
            item(K1K1, STP, &[1845], role(1, 16, 16, true), role(3, 16, 16, true), "recipes/trtllm/h100-fp8/1k1k/stp/ctx1_gen3_dep16_batch32_eplb0_mtp0.yaml"),
            item(K1K1, STP, &[4916], role(2, 16, 16, true), role(1, 16, 16, true), "recipes/trtllm/h100-fp8/1k1k/stp/ctx2_gen1_dep16_batch256_eplb0_mtp0.yaml"),
            item(K8K1, MTP, &[6], role(1, 16, 16, true), role(3, 16, 16, false), "recipes/trtllm/h100-fp8/8k1k/mtp/ctx1_gen3_tep16_batch1_eplb0_mtp3.yaml"),
            item(K8K1, MTP, &[9], role(1, 16, 16, true), role(3, 16, 16, false), "recipes/trtllm/h100-fp8/8k1k/mtp/ctx1_gen3_tep16_batch2_eplb0_mtp3.yaml"),
            item(K8K1, MTP, &[30], role(1, 16, 16, true), role(3, 16, 16, false), "recipes/trtllm/h100-fp8/8k1k/mtp/ctx1_gen3_tep16_batch8_eplb0_mtp3.yaml"),
            item(K8K1, MTP, &[77], role(1, 16, 16, true), role(1, 16, 16, true), "recipes/trtllm/h100-fp8/8k1k/mtp/ctx1_gen1_dep16_batch4_eplb0_mtp3.yaml"),
            item(K8K1, MTP, &[154], role(2, 16, 16, true), role(1, 16, 16, true), "recipes/trtllm/h100-fp8/8k1k/mtp/ctx2_gen1_dep16_batch8_eplb0_mtp3.yaml"),
            item(K8K1, STP, &[6], role(1, 16, 16, true), role(3, 16, 16, false), "recipes/trtllm/h100-fp8/8k1k/stp/ctx1_gen3_tep16_batch1_eplb0_mtp0.yaml"),
            item(K8K1, STP, &[9], role(1, 16, 16, true), role(3, 16, 16, false), "recipes/trtllm/h100-fp8/8k1k/stp/ctx1_gen3_tep16_batch2_eplb0_mtp0.yaml"),
            item(K8K1, STP, &[30], role(1, 16, 16, true), role(3, 16, 16, false), "recipes/trtllm/h100-fp8/8k1k/stp/ctx1_gen3_tep16_batch8_eplb0_mtp0.yaml"),
            item(K8K1, STP, &[154], role(1, 16, 16, true), role(2, 16, 16, false), "recipes/trtllm/h100-fp8/8k1k/stp/ctx1_gen2_tep16_batch64_eplb0_mtp0.yaml"),
        ],
    },
    Entry {
        name: "dsr1-fp8-h200-dynamo-trt",
        image: "nvcr.io/nvidia/ai-dynamo/tensorrtllm-runtime:0.8.1.post1",
        backend: "trtllm",
        gpu: "h200",
        model_path: "deepseek-ai/DeepSeek-R1",
        items: &[
            item(K1K1, MTP, &[512], role(1, 8, 8, true), role(2, 8, 8, true), "recipes/trtllm/h200/1k1k/mtp/c512_ctx1_gen2_dep8_batch256_eplb0_mtp1.yaml"),
            item(K1K1, STP, &[512], role(2, 8, 8, true), role(7, 8, 8, true), "recipes/trtllm/h200/1k1k/stp/c512_ctx2_gen7_dep8_batch512_eplb0_mtp0.yaml"),
            item(K8K1, MTP, &[256], role(3, 8, 8, true), role(1, 8, 8, true), "recipes/trtllm/h200/8k1k/mtp/c256_ctx3_gen1_dep8_batch32_eplb0_mtp2.yaml"),
            item(K8K1, MTP, &[512], role(3, 8, 8, true), role(1, 8, 8, true), "recipes/trtllm/h200/8k1k/mtp/c512_ctx3_gen1_dep8_batch64_eplb0_mtp1.yaml"),
            item(K8K1, STP, &[256], role(5, 8, 8, true), role(3, 8, 8, true), "recipes/trtllm/h200/8k1k/stp/c256_ctx5_gen3_dep8_batch256_eplb0_mtp0.yaml"),
            item(K8K1, STP, &[512], role(3, 8, 8, true), role(1, 8, 8, true), "recipes/trtllm/h200/8k1k/stp/c512_ctx3_gen1_dep8_batch512_eplb0_mtp0.yaml"),
        ],
    },
    Entry {
        name: "dsr1-fp8-h100-dynamo-sglang",
        image: "lmsysorg/sglang:v0.5.8-cu130",
        backend: "sglang",
        gpu: "h100",
        model_path: "deepseek-ai/DeepSeek-R1",
        // Its STP items are commented out at this commit: only the MTP ones run.
        items: &[
            item(K1K1, MTP, &[1, 2, 4, 8, 16, 32, 64, 128], role(1, 16, 1, false), role(2, 16, 1, false), "recipes/h100/1k1k/mtp/h100-fp8-1p2d-max-tp-mtp.yaml"),
            item(K1K1, MTP, &[1, 2, 4, 8, 16, 32, 64], role(1, 16, 1, false), role(1, 16, 16, true), "recipes/h100/1k1k/mtp/h100-fp8-1p1d-max-dep-mtp.yaml"),
            item(K1K8, MTP, &[1, 2, 4, 8, 16, 32, 64], role(1, 16, 1, false), role(2, 16, 1, false), "recipes/h100/1k8k/mtp/h100-fp8-1p2d-max-tp-mtp.yaml"),
            item(K1K8, MTP, &[1, 2, 4, 8, 16, 32, 64], role(1, 16, 1, false), role(1, 16, 16, true), "recipes/h100/1k8k/mtp/h100-fp8-1p1d-max-dep-mtp.yaml"),
            item(K8K1, MTP, &[1, 2, 4, 8, 16, 32, 64, 128], role(1, 16, 1, false), role(1, 16, 1, false), "recipes/h100/8k1k/mtp/h100-fp8-1p1d-max-tp-mtp.yaml"),
            item(K8K1, MTP, &[1, 2, 4, 8, 16, 32, 64], role(1, 16, 1, false), role(1, 16, 16, true), "recipes/h100/8k1k/mtp/h100-fp8-1p1d-max-dep-mtp.yaml"),
        ],
    },
    Entry {
        name: "dsr1-fp8-h200-dynamo-sglang",
        image: "lmsysorg/sglang:v0.5.8.post1-cu130",
        backend: "sglang",
        gpu: "h200",
        model_path: "deepseek-ai/DeepSeek-R1",
        items: &[
            item(K1K1, STP, &[1, 4, 8, 16, 32, 64, 128, 256], role(1, 8, 1, false), role(9, 8, 1, false), "recipes/h200/1k1k/low-latency-1p9d.yaml"),
            item(K1K1, STP, &[512, 1024, 2048], role(1, 8, 1, false), role(6, 8, 1, false), "recipes/h200/1k1k/bs256-1p6d-tp.yaml"),
            item(K1K1, STP, &[128, 256, 512, 1024, 2048], role(1, 8, 8, true), role(6, 8, 8, true), "recipes/h200/1k1k/bs256-1p6d-dep.yaml"),
            item(K1K1, MTP, &[1, 4, 8, 16, 32, 64, 128, 256], role(1, 8, 1, false), role(9, 8, 1, false), "recipes/h200/1k1k/low-latency-1p9d-mtp.yaml"),
            item(K1K1, MTP, &[512, 1024, 2048], role(1, 8, 1, false), role(6, 8, 1, false), "recipes/h200/1k1k/bs256-1p6d-tp-mtp.yaml"),
            item(K1K1, MTP, &[128, 256, 512, 1024, 2048], role(1, 8, 8, true), role(6, 8, 8, true), "recipes/h200/1k1k/bs256-1p6d-dep-mtp.yaml"),
            item(K8K1, STP, &[1, 4, 8], role(1, 8, 1, false), role(7, 8, 1, false), "recipes/h200/8k1k/bs4-1p7d.yaml"),
            item(K8K1, STP, &[4, 8, 16], role(1, 8, 1, false), role(6, 8, 1, false), "recipes/h200/8k1k/bs8-1p6d.yaml"),
            item(K8K1, STP, &[8, 16, 32], role(1, 8, 1, false), role(3, 8, 1, false), "recipes/h200/8k1k/bs16-1p3d.yaml"),
            item(K8K1, STP, &[32, 64, 128], role(2, 8, 1, false), role(3, 8, 1, false), "recipes/h200/8k1k/bs64-2p3d.yaml"),
            item(K8K1, STP, &[64, 128, 256], role(1, 8, 1, false), role(1, 8, 8, true), "recipes/h200/8k1k/bs128-1p1d-dep.yaml"),
            item(K8K1, MTP, &[1, 4, 8], role(1, 8, 1, false), role(7, 8, 1, false), "recipes/h200/8k1k/bs4-1p7d-mtp.yaml"),
            item(K8K1, MTP, &[2, 4, 8, 16, 32], role(1, 8, 1, false), role(6, 8, 1, false), "recipes/h200/8k1k/bs8-1p6d-mtp.yaml"),
            item(K8K1, MTP, &[4, 8, 16, 32, 64], role(1, 8, 1, false), role(3, 8, 1, false), "recipes/h200/8k1k/bs16-1p3d-mtp.yaml"),
            item(K8K1, MTP, &[32, 64, 128], role(2, 8, 1, false), role(3, 8, 1, false), "recipes/h200/8k1k/bs64-2p3d-mtp.yaml"),
            item(K8K1, MTP, &[32, 64, 128, 256, 512], role(1, 8, 1, false), role(1, 8, 8, true), "recipes/h200/8k1k/bs128-1p1d-dep-mtp.yaml"),
        ],
    },
];

/// What a row records of its deployment.
#[derive(Clone, Copy, Debug)]
pub(super) struct Query<'a> {
    /// The CSV's `backend`.
    pub(super) backend: &'a str,
    /// The replay's GPU (`h100`, `h200`).
    pub(super) gpu: &'a str,
    /// The CSV's `model_path`.
    pub(super) model_path: &'a str,
    /// The replay's weights (`fp8`, `bf16`).
    pub(super) weights: &'a str,
    /// `image=` of `silicon_data_source`.
    pub(super) image: &'a str,
    /// Prompt length, tokens.
    pub(super) isl: u32,
    /// Output length, tokens.
    pub(super) osl: u32,
    /// `silicon_concurrency`.
    pub(super) clients: u32,
    /// The prefill split as `silicon.rs` reads it.
    pub(super) prefill: Split,
    /// The decode split as `silicon.rs` reads it.
    pub(super) decode: Split,
}

/// A row's published deployment.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Found {
    /// No item matches: the row keeps its skip reason.
    Nothing,
    /// One deployment without MTP: the row is replayed with it; the note says where it
    /// came from.
    Deployment {
        /// The prefill role.
        prefill: Role,
        /// The decode role.
        decode: Role,
        /// Entry, commit, item.
        note: String,
    },
    /// Matches that cannot be replayed (MTP, or several deployments): the skip reason.
    Skip(String),
}

/// `image=...` of a `silicon_data_source`.
pub(super) fn image(source: &str) -> Option<&str> {
    source
        .split(';')
        .find_map(|p| p.trim().strip_prefix("image=").map(str::trim))
}

/// The InferenceX deployment of a row that does not record its worker counts.
pub(super) fn lookup(q: &Query<'_>) -> Found {
    let mut hits: Vec<(&Entry, &Item)> = Vec::new();
    for e in ENTRIES {
        if e.backend != q.backend
            || e.gpu != q.gpu
            || e.model_path != q.model_path
            || e.image != q.image
            || q.weights != "fp8"
        {
            continue;
        }
        for it in e.items {
            // The conversion repeats the prefill's split in the decode columns (see the
            // module docs): those say nothing of the decode role.
            let decode_fits = q.decode == q.prefill || it.decode.fits(q.decode);
            if it.isl == q.isl
                && it.osl == q.osl
                && it.conc.contains(&q.clients)
                && it.prefill.fits(q.prefill)
                && decode_fits
            {
                hits.push((e, it));
            }
        }
    }
    let Some(&(entry, first)) = hits.first() else {
        return Found::Nothing;
    };
    // `mark`: say which items run MTP (where some do not).
    let list = |mark: bool| {
        hits.iter()
            .map(|(_, it)| {
                format!(
                    "{}prefill {}, decode {}",
                    if mark && it.mtp { "MTP: " } else { "" },
                    it.prefill.describe(),
                    it.decode.describe()
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let at = format!(
        "InferenceX {} @ {} ({}/{}, {} clients)",
        entry.name,
        &COMMIT[..8],
        q.isl,
        q.osl,
        q.clients
    );
    let mtp = hits.iter().filter(|(_, it)| it.mtp).count();
    if mtp == hits.len() {
        return Found::Skip(format!(
            "{at} ran this deployment with MTP ({}); its acceptance is not recorded",
            list(false)
        ));
    }
    let distinct = hits
        .iter()
        .any(|(_, it)| (it.prefill, it.decode) != (first.prefill, first.decode));
    if mtp > 0 || distinct {
        return Found::Skip(format!(
            "ambiguous: {at} lists {} matching deployments ({}); the row does not say which ran{}",
            hits.len(),
            list(true),
            if mtp > 0 {
                " (an MTP run's acceptance is not recorded)"
            } else {
                ""
            }
        ));
    }
    Found::Deployment {
        prefill: first.prefill,
        decode: first.decode,
        note: format!(
            "worker counts from {at}: prefill {}, decode {} (image {}; CONFIG_FILE {}, not stored: its engine settings are not replayed)",
            first.prefill.describe(),
            first.decode.describe(),
            entry.image,
            first.config_file
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_well_formed() {
        for e in ENTRIES {
            assert!(!e.items.is_empty(), "{}", e.name);
            for it in e.items {
                assert!(!it.conc.is_empty(), "{} {}", e.name, it.config_file);
                assert!(
                    it.conc.windows(2).all(|w| w[0] < w[1]),
                    "{}",
                    it.config_file
                );
                for r in [it.prefill, it.decode] {
                    assert!(
                        r.workers >= 1 && r.tp >= r.ep && r.tp % r.ep == 0,
                        "{}",
                        it.config_file
                    );
                }
                // The recipe's name says MTP (`mtp1`..`mtp3`, `-mtp`) exactly when the item does.
                let named_mtp =
                    it.config_file.contains("/mtp/") || it.config_file.ends_with("-mtp.yaml");
                assert_eq!(named_mtp, it.mtp, "{}", it.config_file);
            }
        }
    }

    #[test]
    fn the_image_is_read_from_the_data_source() {
        assert_eq!(
            image(
                "source_file=2026-04-06.csv; model=DeepSeek-R1; silicon_concurrency=4; image=lmsysorg/sglang:v0.5.8-cu130"
            ),
            Some("lmsysorg/sglang:v0.5.8-cu130")
        );
        assert_eq!(image("source_file=2026-04-06.csv"), None);
    }
}
