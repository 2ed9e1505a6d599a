//! Calibration profiles: kernel timings measured on one GPU model by `xpyd-calibrate`,
//! and the lookups with interpolation that a cost model calls once per engine step.
//!
//! # Format (`format_version: 2`; version 1 files still load)
//!
//! Version 2 added the `moe_experts` table (grouped expert GEMMs), the `gemm_sustained`
//! table (layer GEMM stacks replayed at the power limit) and the optional `v_head_dim` of
//! prefill attention rows (MLA: q/k and v widths differ), and later the optional
//! `attention_decode_mla` table (absorbed MLA decode; omitted when empty). A version 1
//! file is a version 2 file with those tables empty, and loads unchanged.
//!
//! A profile is one JSON object ([`ProfileData`]): a [`ProfileHeader`] saying where and
//! how it was measured, then one table per kind of measurement. Every row carries its
//! full shape and the measured **median seconds of one call** (one layer, one kernel or
//! one collective), plus the achieved rate (TFLOP/s or GB/s, 1e12 / 1e9 per second) for
//! people reading the file. Unknown fields are rejected, so a typo never silently drops a
//! table. Units are in the field names.
//!
//! # Lookups
//!
//! [`Profile::new`] validates the data and builds sorted grids once; lookups then cost a
//! binary search and a logarithm or two, with no allocation.
//!
//! - GEMM: exact `(n, k, dtype)` from the table, log-log interpolation in `m` between
//!   grid points, linear-in-`m` extrapolation above the largest measured `m` up to
//!   [`MAX_EXTRAPOLATION`] times it, `None` outside that coverage.
//! - Prefill attention: the achieved TFLOP/s is interpolated log-log in the FLOPs of the
//!   call among rows of the same kernel and `head_dim`, and the time is FLOPs / rate.
//!   Below the smallest measured work the smallest row's time is a floor (launch-bound).
//!   Rows that share the work keep the fastest.
//! - Decode attention: rows of the same `head_dim`, KV dtype and GQA group
//!   `heads / kv_heads` (the nearest measured group at or above the one asked for) form
//!   a grid over (batch × kv_heads, context), interpolated bilinearly in log space; the
//!   achieved GB/s over bytes read covers holes in the grid.
//! - All-reduce and copies: log-log interpolation of seconds in bytes, the smallest
//!   row's time as a floor below, linear in bytes above up to [`MAX_EXTRAPOLATION`].
//!
//! # Invariants
//!
//! - Every lookup is exact at a measured grid point and monotone between two adjacent
//!   grid points (log-log interpolation of two positive values is monotone).
//! - A lookup never extrapolates beyond [`MAX_EXTRAPOLATION`] times the measured range;
//!   it returns `None` and the caller falls back to the roofline.
//! - Nothing here reads a clock, the environment or the network: the date in the header
//!   is written by the caller.

mod data;
mod index;
mod interp;
mod lookup;

pub use data::{
    AllreduceRow, AttentionSustainedRow, DecodeAttentionRow, FORMAT_VERSION, GemmRow,
    GemmSustainedRow, HostCopyDirection, HostCopyRow, MemoryBoundRow, MlaDecodeRow, MoeExpertsRow,
    P2pCopyRow, PrefillAttentionRow, ProfileData, ProfileError, ProfileHeader, READABLE_VERSIONS,
    decode_attention_kv_bytes, mla_decode_kv_bytes, moe_experts_flops, prefill_attention_flops,
    prefill_attention_flops_qk_v,
};
pub use interp::MAX_EXTRAPOLATION;
pub use lookup::DecodeBatch;

use index::Index;
use serde::Serialize;
use std::path::Path;

/// A validated profile with its lookup grids. Build with [`Profile::new`],
/// [`Profile::load`] or [`Profile::builtin`].
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    data: ProfileData,
    index: Index,
    /// The prefill kernel lookups use by default.
    default_prefill_kernel: Option<String>,
}

impl Serialize for Profile {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.data.serialize(s)
    }
}

/// Built-in profiles: `(gpu id, JSON text)`, measured by `xpyd-calibrate` (see each
/// file's header for the machine, date and command line).
const BUILTIN: &[(&str, &str)] = &[
    ("h100", include_str!("../../profiles/h100.json")),
    ("h200", include_str!("../../profiles/h200.json")),
];

impl Profile {
    /// Validate `data` and build the lookup grids. `origin` names the source in errors
    /// (a path, or `builtin:h100`).
    pub fn new(data: ProfileData, origin: &str) -> Result<Profile, ProfileError> {
        if !READABLE_VERSIONS.contains(&data.format_version) {
            return Err(ProfileError::Version {
                origin: origin.to_string(),
                found: data.format_version,
            });
        }
        Self::validate(&data, origin)?;
        let index = Self::build_index(&data);
        // The fastest measured implementation: highest peak TFLOP/s (ties: first by name).
        let mut default_prefill_kernel: Option<(String, f64)> = None;
        for r in data
            .attention_prefill
            .iter()
            .filter(|r| r.v_head_dim.is_none())
        {
            let better = match &default_prefill_kernel {
                None => true,
                Some((k, best)) => r.tflops > *best || (r.tflops == *best && r.kernel < *k),
            };
            if better {
                default_prefill_kernel = Some((r.kernel.clone(), r.tflops));
            }
        }
        let default_prefill_kernel = default_prefill_kernel.map(|(k, _)| k);
        Ok(Profile {
            data,
            index,
            default_prefill_kernel,
        })
    }

    /// Parse a profile from JSON text; `origin` names it in errors.
    pub fn from_json_str(text: &str, origin: &str) -> Result<Profile, ProfileError> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let data: ProfileData =
            serde_path_to_error::deserialize(de).map_err(|e| ProfileError::Parse {
                origin: origin.to_string(),
                field: e.path().to_string(),
                message: e.inner().to_string(),
            })?;
        Profile::new(data, origin)
    }

    /// Load a profile file.
    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        let text =
            crate::file::read_text(path, crate::file::MAX_TEXT_FILE_BYTES).map_err(|source| {
                ProfileError::Io {
                    path: path.to_path_buf(),
                    source,
                }
            })?;
        Profile::from_json_str(&text, &path.display().to_string())
    }

    /// The profile shipped for a catalog GPU (`h100`, `h200`), if one ships.
    pub fn builtin(gpu_id: &str) -> Option<Profile> {
        let (id, text) = BUILTIN
            .iter()
            .find(|(id, _)| id.eq_ignore_ascii_case(gpu_id))?;
        // The shipped files are checked by tests; a broken one is a build bug.
        match Profile::from_json_str(text, &format!("builtin:{id}")) {
            Ok(p) => Some(p),
            Err(e) => panic!("shipped profile is broken: {e}"),
        }
    }

    /// GPU ids that have a shipped profile.
    pub fn builtin_ids() -> Vec<&'static str> {
        BUILTIN.iter().map(|(id, _)| *id).collect()
    }

    /// The measured data.
    pub fn data(&self) -> &ProfileData {
        &self.data
    }

    /// Where and how it was measured.
    pub fn header(&self) -> &ProfileHeader {
        &self.data.header
    }

    /// Serialize as pretty JSON (the file format).
    pub fn to_json_pretty(&self) -> String {
        // ProfileData holds only strings, numbers, enums and vectors: cannot fail.
        serde_json::to_string_pretty(&self.data).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dtype;

    fn header() -> ProfileHeader {
        ProfileHeader {
            gpu_name: "Test GPU".into(),
            gpu_id: "test".into(),
            memory_bytes: 80 << 30,
            sm_count: 132,
            compute_capability: "9.0".into(),
            sm_clock_mhz: 1980,
            memory_clock_mhz: 2619,
            gpu_count: 1,
            driver_version: "13000".into(),
            cuda_version: "13.0".into(),
            date_utc: "2026-11-21T00:00:00Z".into(),
            tool_version: "0.1.0".into(),
            command_line: "xpyd-calibrate run".into(),
            notes: vec![],
        }
    }

    fn gemm(m: u64, seconds: f64) -> GemmRow {
        GemmRow {
            m,
            n: 4096,
            k: 4096,
            dtype: Dtype::Bf16,
            seconds,
            tflops: 2.0 * (m * 4096 * 4096) as f64 / seconds / 1e12,
            label: "o".into(),
        }
    }

    pub(super) fn data() -> ProfileData {
        ProfileData {
            format_version: FORMAT_VERSION,
            header: header(),
            gemm: vec![
                gemm(1, 10e-6),
                gemm(16, 11e-6),
                gemm(256, 40e-6),
                gemm(4096, 400e-6),
            ],
            attention_prefill: vec![],
            attention_decode: vec![],
            memory_bound: vec![],
            hbm_bandwidth_gb_s: Some(3000.0),
            launch_gap_s: Some(2e-6),
            allreduce: vec![
                AllreduceRow {
                    gpus: 2,
                    bytes: 1024,
                    seconds: 8e-6,
                    bus_gb_s: 0.1,
                    algorithm: "nccl".into(),
                },
                AllreduceRow {
                    gpus: 2,
                    bytes: 1 << 20,
                    seconds: 20e-6,
                    bus_gb_s: 50.0,
                    algorithm: "nccl".into(),
                },
            ],
            p2p_copy: vec![],
            host_copy: vec![],
            moe_experts: vec![],
            gemm_sustained: vec![],
            attention_decode_mla: vec![],
            attention_sustained: vec![],
        }
    }

    #[test]
    fn version_and_invalid_values_are_rejected() {
        let mut d = data();
        d.format_version = 3;
        let e = Profile::new(d, "x.json").unwrap_err();
        assert!(e.to_string().contains("format_version: 3"), "{e}");
        // Version 1 (no MoE, sustained or MLA fields) still loads.
        let mut d = data();
        d.format_version = 1;
        assert!(Profile::new(d, "v1.json").is_ok());
        let mut d = data();
        d.moe_experts.push(MoeExpertsRow {
            hidden: 64,
            inter: 32,
            experts: 4,
            top_k: 8,
            dtype: crate::ExpertDtype::Bf16,
            tokens: 1,
            touched: 4,
            seconds: 1e-5,
            tflops: 0.0,
            kernel: "k".into(),
            label: String::new(),
        });
        let e = Profile::new(d, "x.json").unwrap_err().to_string();
        assert!(e.contains("moe_experts[0].top_k"), "{e}");
        let mut d = data();
        d.gemm[2].seconds = -1.0;
        let e = Profile::new(d, "x.json").unwrap_err().to_string();
        assert!(e.contains("x.json: gemm[2].seconds"), "{e}");
    }

    #[test]
    fn version_1_text_loads_and_rewrites_as_version_2() {
        let mut d = data();
        d.format_version = 1;
        let text = serde_json::to_string(&d).unwrap();
        // A version 1 file has no moe_experts / gemm_sustained keys at all.
        let text = text
            .replace(",\"moe_experts\":[]", "")
            .replace(",\"gemm_sustained\":[]", "");
        assert!(!text.contains("moe_experts"));
        let p = Profile::from_json_str(&text, "v1.json").unwrap();
        assert!(p.data().moe_experts.is_empty() && p.data().gemm_sustained.is_empty());
        assert_eq!(p.data().format_version, 1);
        // An MLA prefill row round-trips and stays out of the plain lookups.
        let mut d = data();
        d.attention_prefill.push(PrefillAttentionRow {
            batch: 1,
            new_tokens: 1024,
            context: 0,
            heads: 16,
            kv_heads: 16,
            head_dim: 192,
            seconds: 1e-4,
            tflops: 1e9,
            kernel: "mla".into(),
            v_head_dim: Some(128),
        });
        let p = Profile::new(d, "t").unwrap();
        assert_ne!(p.default_prefill_kernel(), Some("mla"));
        assert_eq!(
            p.prefill_attention_seconds_with("mla", 1, 1024, 0, 16, 16, 192),
            None
        );
        let row = p.data().attention_prefill.last().unwrap();
        assert_eq!(row.flops(), 2.0 * 16.0 * 320.0 * 1024.0 * 1025.0 / 2.0);
        let back = Profile::from_json_str(&p.to_json_pretty(), "t").unwrap();
        assert_eq!(back.data(), p.data());
    }

    #[test]
    fn profiles_without_mla_decode_rows_load_and_omit_the_table() {
        // Files written before the table existed have no key; writing keeps it out.
        let text = Profile::new(data(), "t").unwrap().to_json_pretty();
        assert!(!text.contains("attention_decode_mla"));
        assert!(!text.contains("attention_sustained"));
        let p = Profile::from_json_str(&text, "old.json").unwrap();
        assert!(p.data().attention_decode_mla.is_empty());
        assert_eq!(
            p.mla_decode_seconds(8, 1024, 16, 512, 64, Dtype::Bf16),
            None
        );
        assert!(p.mla_decode_heads(512, 64, Dtype::Bf16).is_empty());
    }

    #[test]
    fn parse_errors_name_file_and_field() {
        let p = Profile::new(data(), "t").unwrap();
        let text = p.to_json_pretty();
        let back = Profile::from_json_str(&text, "t").unwrap();
        assert_eq!(back, p);
        let broken = text.replacen("\"dtype\": \"bf16\"", "\"dtype\": \"int4\"", 1);
        let e = Profile::from_json_str(&broken, "h.json")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("h.json: gemm[0].dtype:"), "{e}");
        let e = Profile::load(Path::new("/nonexistent/p.json")).unwrap_err();
        assert!(e.to_string().starts_with("/nonexistent/p.json:"), "{e}");
    }
}
