//! Reader of NVIDIA AIConfigurator's perf database (one system folder, such as
//! `aiconfigurator_core/systems/data/h200_sxm`) and its mapping to our calibration
//! profile ([`ProfileData`]).
//!
//! Layout read (`<backend>` is `sglang`, `vllm` or `trtllm`; `<version>` the newest
//! version folder present, compared component by component as numbers):
//!
//! | file | → table |
//! |---|---|
//! | `gemm/<backend>/<version>/gemm_perf.parquet` | `gemm`: the backend's plain bf16 kernel and its per-tensor fp8 kernel ([`Backend::gemm_kernels`]) |
//! | `attention/<backend>/<version>/context_attention_perf.parquet` | `attention_prefill`: bf16 Q/KV, full attention (`window_size` 0), `context` 0; by default only [`XPYD_PREFILL_SHAPES`] |
//! | `attention/<backend>/<version>/generation_attention_perf.parquet` | `attention_decode`: full attention, bf16 or fp8 KV, `context = isl + step` |
//! | `comm/nccl/<version>/nccl_perf.parquet` | `allreduce`: `all_reduce`, `half`, 2/4/8 GPUs, bytes = elements × 2 |
//!
//! Invariants: every latency in those tables is milliseconds per single call (one
//! layer) and becomes seconds by `/ 1e3`; shapes are copied unchanged (attention heads
//! are per GPU in both formats); a row is never invented, interpolated or merged here
//! (duplicates are left to [`Profile`], which keeps the fastest); the result is a
//! [`Profile`] that [`Profile::new`] accepted, or an [`ImportError`] that names the file,
//! and the column or row where it applies.

use parquet::errors::ParquetError;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::{Row, RowAccessor};
use parquet::schema::types::Type;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use xpyd_models::profile::{
    AllreduceRow, DecodeAttentionRow, FORMAT_VERSION, GemmRow, PrefillAttentionRow, Profile,
    ProfileData, ProfileError, ProfileHeader, decode_attention_kv_bytes, prefill_attention_flops,
};
use xpyd_models::{Dtype, GpuSpec};

/// Why an import failed. Every variant is fatal for the import: nothing is produced.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The system folder given is not a folder.
    #[error("{dir}: not a folder")]
    NotAFolder {
        /// The folder given.
        dir: PathBuf,
    },
    /// A table's parent folder (`gemm/<backend>`, ...) cannot be listed.
    #[error("{dir}: missing")]
    MissingFolder {
        /// The folder.
        dir: PathBuf,
        /// Why it cannot be listed.
        source: std::io::Error,
    },
    /// An entry of a table's parent folder cannot be read.
    #[error("{dir}: reading the folder")]
    ReadFolder {
        /// The folder.
        dir: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A table's parent folder holds no version folder.
    #[error("{dir}: no version folder in it")]
    NoVersion {
        /// The folder.
        dir: PathBuf,
    },
    /// A table cannot be opened.
    #[error("{path}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `collection_meta.yaml` exists but cannot be read.
    #[error("{path}: reading")]
    ReadMeta {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A table is not a Parquet file the reader understands.
    #[error("{path}: not a readable Parquet file")]
    NotParquet {
        /// The file.
        path: PathBuf,
        /// The reader's error.
        source: ParquetError,
    },
    /// A table lacks a column the mapping needs.
    #[error("{path}: column `{column}` missing")]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The column.
        column: &'static str,
    },
    /// The Parquet reader failed on the table (`what`: building the column projection,
    /// reading rows, `row N`).
    #[error("{path}: {what}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// What was being read.
        what: String,
        /// The reader's error.
        source: ParquetError,
    },
    /// A cell has the wrong type or an impossible value.
    #[error("{path}: row {row}: column `{column}`: {problem}")]
    Cell {
        /// The file.
        path: PathBuf,
        /// Row index, from 0.
        row: usize,
        /// The column.
        column: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// A table holds no row the mapping imports.
    #[error("{path}: {what}")]
    NoRows {
        /// The file.
        path: PathBuf,
        /// Which rows were looked for.
        what: String,
    },
    /// The `device` column names no catalog GPU and no `gpu_id` was given.
    #[error("{path}: device `{device}` is not a catalog GPU I can name; pass --gpu-id")]
    UnknownDevice {
        /// The GEMM table.
        path: PathBuf,
        /// Its `device` value.
        device: String,
    },
    /// The imported tables do not make a valid profile.
    #[error("the imported data is not a valid profile")]
    Invalid(#[source] ProfileError),
}

/// Result of this module's functions.
type Result<T, E = ImportError> = std::result::Result<T, E>;

/// The serving framework whose collection is imported.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SGLang.
    Sglang,
    /// vLLM.
    Vllm,
    /// TensorRT-LLM (PyTorch flow).
    Trtllm,
}

impl Backend {
    /// Folder name in the database.
    pub fn folder(self) -> &'static str {
        match self {
            Backend::Sglang => "sglang",
            Backend::Vllm => "vllm",
            Backend::Trtllm => "trtllm",
        }
    }

    /// `kernel_source` of the plain bf16 GEMM and of the per-tensor-scaled fp8 GEMM
    /// (the fp8 our `fp8` rows stand for; block-scaled `fp8_block` kernels are not
    /// imported).
    pub fn gemm_kernels(self) -> (&'static str, &'static str) {
        match self {
            Backend::Sglang => ("sglang_torch_linear", "sglang_sgl_kernel_fp8_scaled_mm"),
            Backend::Vllm => (
                "torch.nn.functional.linear",
                "CutlassFP8ScaledMMLinearKernel",
            ),
            Backend::Trtllm => ("torch_flow", "torch_flow"),
        }
    }

    /// KV-cache page size the backend uses by default, tokens (aiconfigurator does not
    /// record it; our `block_size` is documentation only).
    fn default_block_size(self) -> u32 {
        match self {
            Backend::Sglang => 1,
            Backend::Vllm => 16,
            Backend::Trtllm => 32,
        }
    }
}

/// What one import produced.
#[derive(Debug)]
pub struct Imported {
    /// The profile, accepted by [`Profile::new`].
    pub profile: Profile,
    /// `aiconfigurator:<backend>:<version>`.
    pub origin: String,
}

impl Imported {
    /// One line: origin, GPU and the row count of every imported table.
    pub fn summary(&self) -> String {
        let d = self.profile.data();
        format!(
            "{}: {} ({}): {} gemm, {} prefill attention, {} decode attention, {} all-reduce rows",
            self.origin,
            d.header.gpu_name,
            d.header.gpu_id,
            d.gemm.len(),
            d.attention_prefill.len(),
            d.attention_decode.len(),
            d.allreduce.len()
        )
    }
}

/// Which prefill attention rows to import.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PrefillShapes {
    /// Only the shapes `xpyd-calibrate` measures ([`XPYD_PREFILL_SHAPES`]).
    Xpyd,
    /// Every full-attention bf16 row.
    All,
}

/// `(batch, per-GPU heads, per-GPU KV heads)` of the prefill shapes `xpyd-calibrate`
/// measures. The cost model reads prefill attention as a function of FLOPs alone and
/// raises the sampled curve to a running maximum (`models/src/calibrated/mod.rs`), so rows
/// that are slow for their FLOPs (many heads over short sequences, batch 128+: under
/// 60 TFLOP/s) would lift every larger call: with all rows, Qwen3-32B TP 2 prefill of
/// 2048 tokens costs 5x what the matching row says. On these shapes the curve stays
/// within 1-35% of the rows (81 vs 78 us per layer at that point on H200).
pub const XPYD_PREFILL_SHAPES: [(u32, u32, u32); 4] =
    [(1, 32, 8), (4, 32, 8), (1, 8, 1), (4, 8, 1)];

/// Read the system folder `dir` for `backend` into a validated profile. `gpu_id`
/// overrides the catalog id derived from the `device` column; `command_line` goes into
/// the header.
pub fn import(
    dir: &Path,
    backend: Backend,
    gpu_id: Option<&str>,
    prefill_shapes: PrefillShapes,
    command_line: &str,
) -> Result<Imported> {
    if !dir.is_dir() {
        return Err(ImportError::NotAFolder {
            dir: dir.to_path_buf(),
        });
    }
    let (version, gemm_dir) = latest_version(&dir.join("gemm").join(backend.folder()))?;
    let (attn_version, attn_dir) = latest_version(&dir.join("attention").join(backend.folder()))?;
    let (nccl_version, nccl_dir) = latest_version(&dir.join("comm").join("nccl"))?;
    let mut notes = Vec::new();

    let gemm_file = gemm_dir.join("gemm_perf.parquet");
    let (gemm, device) = read_gemm(&gemm_file, backend)?;
    let ctx_file = attn_dir.join("context_attention_perf.parquet");
    let (attention_prefill, skipped) = read_prefill(&ctx_file, prefill_shapes)?;
    notes.extend(skipped);
    if prefill_shapes == PrefillShapes::Xpyd {
        notes.push(format!(
            "attention_prefill: only (batch, heads, kv_heads) in {XPYD_PREFILL_SHAPES:?}, the shapes xpyd-calibrate measures (--all-prefill-shapes imports every row)"
        ));
    }
    let gen_file = attn_dir.join("generation_attention_perf.parquet");
    let (attention_decode, skipped) = read_decode(&gen_file, backend)?;
    notes.extend(skipped);
    let nccl_file = nccl_dir.join("nccl_perf.parquet");
    let allreduce = read_allreduce(&nccl_file, &nccl_version)?;

    let gpu_id = match gpu_id {
        Some(id) => id.to_ascii_lowercase(),
        None => gpu_id_from_device(&device).ok_or_else(|| ImportError::UnknownDevice {
            path: gemm_file.clone(),
            device: device.clone(),
        })?,
    };
    let memory_bytes = match GpuSpec::builtin(&gpu_id) {
        Ok(spec) => {
            notes.push(format!(
                "memory_bytes from the catalog entry `{gpu_id}` (aiconfigurator does not record device properties)"
            ));
            (spec.memory_gib * f64::from(1u32 << 30)).round() as u64
        }
        Err(_) => 0,
    };
    let meta = read_meta(&gemm_dir.join("collection_meta.yaml"))?;
    let (bf16_kernel, fp8_kernel) = backend.gemm_kernels();
    notes.push(format!(
        "imported from {}: gemm {version} (bf16 `{bf16_kernel}`, fp8 per-tensor `{fp8_kernel}`), attention {attn_version}, nccl {nccl_version}; latency ms / 1e3 = seconds",
        dir.display()
    ));
    notes.push(format!(
        "attention_decode block_size: not recorded by aiconfigurator, set to the {} default ({})",
        backend.folder(),
        backend.default_block_size()
    ));
    let max_gpus = allreduce.iter().map(|r| r.gpus).max().unwrap_or(1);
    let header = ProfileHeader {
        gpu_name: device,
        gpu_id,
        memory_bytes,
        sm_count: 0,
        compute_capability: String::new(),
        sm_clock_mhz: 0,
        memory_clock_mhz: 0,
        gpu_count: max_gpus,
        driver_version: String::new(),
        cuda_version: format!("nccl {nccl_version}"),
        date_utc: meta.date.unwrap_or_default(),
        tool_version: format!(
            "aiconfigurator perf database, {} {} (collection_meta schema_version {}, provenance {})",
            meta.framework.as_deref().unwrap_or(backend.folder()),
            meta.version.as_deref().unwrap_or(&version),
            meta.schema_version.as_deref().unwrap_or("?"),
            meta.provenance.as_deref().unwrap_or("?"),
        ),
        command_line: command_line.to_string(),
        notes,
    };
    let data = ProfileData {
        format_version: FORMAT_VERSION,
        header,
        gemm,
        attention_prefill,
        attention_decode,
        memory_bound: Vec::new(),
        hbm_bandwidth_gb_s: None,
        launch_gap_s: None,
        allreduce,
        p2p_copy: Vec::new(),
        host_copy: Vec::new(),
        moe_experts: Vec::new(),
        gemm_sustained: Vec::new(),
        attention_decode_mla: Vec::new(),
        attention_sustained: Vec::new(),
    };
    let origin = format!("aiconfigurator:{}:{version}", backend.folder());
    let profile = Profile::new(data, &origin).map_err(ImportError::Invalid)?;
    Ok(Imported { profile, origin })
}

/// `h100` / `h200` from the driver's device name.
fn gpu_id_from_device(device: &str) -> Option<String> {
    let d = device.to_ascii_uppercase();
    ["H100", "H200", "H20", "B200", "GB200", "A100", "L40S"]
        .iter()
        .find(|id| {
            d.split(|c: char| !c.is_ascii_alphanumeric())
                .any(|w| w == **id)
        })
        .map(|id| id.to_ascii_lowercase())
}

/// Sort key of a version folder name: numeric components compare as numbers
/// (`2.29.2` > `2.27.3` > `2.23`, `1.3.0rc20` by its leading digits then the rest).
fn version_key(v: &str) -> Vec<(u64, String)> {
    v.split('.')
        .map(|c| {
            let digits: String = c.chars().take_while(char::is_ascii_digit).collect();
            (digits.parse().unwrap_or(0), c[digits.len()..].to_string())
        })
        .collect()
}

/// The newest version folder under `parent`.
fn latest_version(parent: &Path) -> Result<(String, PathBuf)> {
    let entries = std::fs::read_dir(parent).map_err(|source| ImportError::MissingFolder {
        dir: parent.to_path_buf(),
        source,
    })?;
    let mut versions = Vec::new();
    for e in entries {
        let e = e.map_err(|source| ImportError::ReadFolder {
            dir: parent.to_path_buf(),
            source,
        })?;
        if e.path().is_dir() {
            versions.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    let v = versions
        .into_iter()
        .max_by_key(|v| version_key(v))
        .ok_or_else(|| ImportError::NoVersion {
            dir: parent.to_path_buf(),
        })?;
    let path = parent.join(&v);
    Ok((v, path))
}

/// The fields of `collection_meta.yaml` the header uses, read as plain `key: value` lines.
#[derive(Debug, Default)]
struct Meta {
    schema_version: Option<String>,
    provenance: Option<String>,
    framework: Option<String>,
    version: Option<String>,
    date: Option<String>,
}

fn read_meta(path: &Path) -> Result<Meta> {
    let mut m = Meta::default();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(m),
        Err(source) => {
            return Err(ImportError::ReadMeta {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim().trim_matches('"').trim_matches('\'');
        if v.is_empty() {
            continue;
        }
        let slot = match k.trim() {
            "schema_version" => &mut m.schema_version,
            "provenance" => &mut m.provenance,
            "framework" => &mut m.framework,
            "version" => &mut m.version,
            "date" | "collected_at" | "timestamp" => &mut m.date,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(v.to_string());
        }
    }
    Ok(m)
}

/// One Parquet table read row by row through a projection onto the named columns, in
/// that order.
struct Table {
    path: PathBuf,
    cols: Vec<&'static str>,
}

impl Table {
    /// Call `f` with every row; `cols` are required, in the row in that order.
    fn for_each(
        path: &Path,
        cols: &[&'static str],
        mut f: impl FnMut(&Cells<'_>) -> Result<()>,
    ) -> Result<()> {
        let file = std::fs::File::open(path).map_err(|source| ImportError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let parquet = |what: String| {
            move |source| ImportError::Parquet {
                path: path.to_path_buf(),
                what,
                source,
            }
        };
        let reader = SerializedFileReader::new(file).map_err(|source| ImportError::NotParquet {
            path: path.to_path_buf(),
            source,
        })?;
        let root = reader
            .metadata()
            .file_metadata()
            .schema_descr()
            .root_schema();
        let fields = root.get_fields();
        let mut picked: Vec<Arc<Type>> = Vec::with_capacity(cols.len());
        for c in cols {
            let field = fields.iter().find(|f| f.name() == *c).ok_or_else(|| {
                ImportError::MissingColumn {
                    path: path.to_path_buf(),
                    column: c,
                }
            })?;
            picked.push(Arc::clone(field));
        }
        let projection = Type::group_type_builder(root.name())
            .with_fields(picked)
            .build()
            .map_err(parquet("building the column projection".into()))?;
        let table = Table {
            path: path.to_path_buf(),
            cols: cols.to_vec(),
        };
        let rows = reader
            .get_row_iter(Some(projection))
            .map_err(parquet("reading rows".into()))?;
        for (i, row) in rows.enumerate() {
            let row = row.map_err(parquet(format!("row {i}")))?;
            f(&Cells {
                table: &table,
                row: &row,
                index: i,
            })?;
        }
        Ok(())
    }
}

/// One row with typed accessors that name the file, row and column on error.
struct Cells<'a> {
    table: &'a Table,
    row: &'a Row,
    index: usize,
}

impl Cells<'_> {
    fn pos(&self, col: &str) -> usize {
        // Columns are the fixed lists below: a wrong name is a bug here.
        self.table
            .cols
            .iter()
            .position(|c| *c == col)
            .unwrap_or_else(|| panic!("column `{col}` not projected"))
    }

    fn err(&self, col: &'static str, e: impl std::fmt::Display) -> ImportError {
        ImportError::Cell {
            path: self.table.path.clone(),
            row: self.index,
            column: col,
            problem: e.to_string(),
        }
    }

    fn str(&self, col: &'static str) -> Result<&str> {
        self.row
            .get_string(self.pos(col))
            .map(String::as_str)
            .map_err(|e| self.err(col, e))
    }

    fn int(&self, col: &'static str) -> Result<i64> {
        let i = self.pos(col);
        self.row
            .get_long(i)
            .or_else(|_| self.row.get_int(i).map(i64::from))
            .map_err(|e| self.err(col, e))
    }

    /// A positive integer that fits `T`.
    fn uint<T: TryFrom<i64>>(&self, col: &'static str) -> Result<T> {
        let v = self.int(col)?;
        if v <= 0 {
            return Err(self.err(col, format!("{v} is not positive")));
        }
        T::try_from(v).map_err(|_| self.err(col, format!("{v} is out of range")))
    }

    fn float(&self, col: &'static str) -> Result<f64> {
        let i = self.pos(col);
        self.row
            .get_double(i)
            .or_else(|_| self.row.get_float(i).map(f64::from))
            .map_err(|e| self.err(col, e))
    }

    /// `latency` (ms) as positive finite seconds.
    fn seconds(&self) -> Result<f64> {
        let ms = self.float("latency")?;
        if !(ms.is_finite() && ms > 0.0) {
            return Err(self.err("latency", format!("{ms} ms is not a positive time")));
        }
        Ok(ms / 1e3)
    }
}

/// `gemm` rows and the `device` string.
fn read_gemm(path: &Path, backend: Backend) -> Result<(Vec<GemmRow>, String)> {
    let (bf16_kernel, fp8_kernel) = backend.gemm_kernels();
    let mut rows = Vec::new();
    let mut device = String::new();
    let cols = [
        "device",
        "kernel_source",
        "gemm_dtype",
        "m",
        "n",
        "k",
        "latency",
    ];
    Table::for_each(path, &cols, |c| {
        let dtype = match (c.str("kernel_source")?, c.str("gemm_dtype")?) {
            (k, "bfloat16") if k == bf16_kernel => Dtype::Bf16,
            (k, "fp8") if k == fp8_kernel => Dtype::Fp8,
            _ => return Ok(()),
        };
        if device.is_empty() {
            device = c.str("device")?.to_string();
        }
        let (m, n, k): (u64, u64, u64) = (c.uint("m")?, c.uint("n")?, c.uint("k")?);
        let seconds = c.seconds()?;
        rows.push(GemmRow {
            m,
            n,
            k,
            dtype,
            seconds,
            tflops: 2.0 * m as f64 * n as f64 * k as f64 / seconds / 1e12,
            label: c.str("kernel_source")?.to_string(),
        });
        Ok(())
    })?;
    if rows.is_empty() {
        return Err(ImportError::NoRows {
            path: path.to_path_buf(),
            what: format!(
                "no rows of kernel_source `{bf16_kernel}` (bfloat16) or `{fp8_kernel}` (fp8)"
            ),
        });
    }
    Ok((rows, device))
}

const ATTN_COLS: [&str; 11] = [
    "kernel_source",
    "batch_size",
    "isl",
    "num_heads",
    "num_key_value_heads",
    "head_dim",
    "attn_dtype",
    "kv_cache_dtype",
    "step",
    "window_size",
    "latency",
];

/// The kernel to import from an attention table: among kernels with full-attention
/// `head_dim` 128 rows, the one with the most rows. Our profile's default prefill
/// kernel is the one with the highest peak TFLOP/s at any head_dim, so a second kernel
/// measured only at another head_dim (vLLM's FA4 at 512, SGLang's triton) could become
/// the default and leave head_dim 128 uncovered; one kernel per profile avoids that.
fn main_kernel(counts: &BTreeMap<String, (usize, usize)>, path: &Path) -> Result<String> {
    counts
        .iter()
        .filter(|(_, (n128, _))| *n128 > 0)
        .max_by_key(|(k, (n128, _))| (*n128, std::cmp::Reverse((*k).clone())))
        .map(|(k, _)| k.clone())
        .ok_or_else(|| ImportError::NoRows {
            path: path.to_path_buf(),
            what: "no full-attention (window_size 0) head_dim 128 rows".into(),
        })
}

/// Notes on the kernels left out.
fn skipped_notes(
    table: &str,
    kernel: &str,
    counts: &BTreeMap<String, (usize, usize)>,
) -> Vec<String> {
    counts
        .iter()
        .filter(|(k, _)| k.as_str() != kernel)
        .map(|(k, (_, n))| format!("{table}: kernel `{k}` ({n} rows) not imported; `{kernel}` is"))
        .collect()
}

/// Kernel → (full-attention head_dim-128 rows, all usable rows).
fn kernel_counts(
    path: &Path,
    usable: impl Fn(&Cells<'_>) -> Result<bool>,
) -> Result<BTreeMap<String, (usize, usize)>> {
    let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    Table::for_each(path, &ATTN_COLS, |c| {
        if usable(c)? {
            let e = counts
                .entry(c.str("kernel_source")?.to_string())
                .or_default();
            e.1 += 1;
            if c.int("head_dim")? == 128 {
                e.0 += 1;
            }
        }
        Ok(())
    })?;
    Ok(counts)
}

/// `attention_prefill` rows (bf16, full attention, fresh prompts) and notes.
fn read_prefill(
    path: &Path,
    shapes: PrefillShapes,
) -> Result<(Vec<PrefillAttentionRow>, Vec<String>)> {
    let usable = |c: &Cells<'_>| -> Result<bool> {
        Ok(c.int("window_size")? == 0
            && c.int("step")? == 0
            && c.str("attn_dtype")? == "bfloat16"
            && c.str("kv_cache_dtype")? == "bfloat16")
    };
    let counts = kernel_counts(path, usable)?;
    let kernel = main_kernel(&counts, path)?;
    let mut rows = Vec::new();
    Table::for_each(path, &ATTN_COLS, |c| {
        if !usable(c)? || c.str("kernel_source")? != kernel {
            return Ok(());
        }
        let (batch, new_tokens, heads, kv_heads, head_dim): (u32, u32, u32, u32, u32) = (
            c.uint("batch_size")?,
            c.uint("isl")?,
            c.uint("num_heads")?,
            c.uint("num_key_value_heads")?,
            c.uint("head_dim")?,
        );
        if shapes == PrefillShapes::Xpyd && !XPYD_PREFILL_SHAPES.contains(&(batch, heads, kv_heads))
        {
            return Ok(());
        }
        let seconds = c.seconds()?;
        let flops = prefill_attention_flops(batch, new_tokens, 0, heads, head_dim);
        rows.push(PrefillAttentionRow {
            batch,
            new_tokens,
            context: 0,
            heads,
            kv_heads,
            head_dim,
            seconds,
            tflops: flops / seconds / 1e12,
            kernel: format!("aiconfigurator-{kernel}"),
            v_head_dim: None,
        });
        Ok(())
    })?;
    Ok((rows, skipped_notes("attention_prefill", &kernel, &counts)))
}

/// `attention_decode` rows (full attention, bf16 or fp8 KV) and notes.
fn read_decode(path: &Path, backend: Backend) -> Result<(Vec<DecodeAttentionRow>, Vec<String>)> {
    let kv = |c: &Cells<'_>| -> Result<Option<Dtype>> {
        Ok(match c.str("kv_cache_dtype")? {
            "bfloat16" => Some(Dtype::Bf16),
            "fp8" => Some(Dtype::Fp8),
            _ => None,
        })
    };
    let usable = |c: &Cells<'_>| -> Result<bool> {
        Ok(c.int("window_size")? == 0 && c.str("attn_dtype")? == "bfloat16" && kv(c)?.is_some())
    };
    let counts = kernel_counts(path, usable)?;
    let kernel = main_kernel(&counts, path)?;
    let mut rows = Vec::new();
    Table::for_each(path, &ATTN_COLS, |c| {
        if !usable(c)? || c.str("kernel_source")? != kernel {
            return Ok(());
        }
        let Some(kv_dtype) = kv(c)? else {
            return Ok(());
        };
        let (batch, isl, heads, kv_heads, head_dim): (u32, u32, u32, u32, u32) = (
            c.uint("batch_size")?,
            c.uint("isl")?,
            c.uint("num_heads")?,
            c.uint("num_key_value_heads")?,
            c.uint("head_dim")?,
        );
        let step = c.int("step")?;
        let context = u32::try_from(i64::from(isl) + step)
            .ok()
            .filter(|&v| v > 0)
            .ok_or_else(|| c.err("step", format!("isl {isl} + step {step} is out of range")))?;
        let seconds = c.seconds()?;
        let bytes = decode_attention_kv_bytes(batch, context, kv_heads, head_dim, kv_dtype);
        rows.push(DecodeAttentionRow {
            batch,
            context,
            heads,
            kv_heads,
            head_dim,
            block_size: backend.default_block_size(),
            kv_dtype,
            seconds,
            gb_s: bytes / seconds / 1e9,
            kernel: format!("aiconfigurator-{kernel}"),
        });
        Ok(())
    })?;
    Ok((rows, skipped_notes("attention_decode", &kernel, &counts)))
}

/// `allreduce` rows: NCCL `all_reduce` in `half` (2-byte elements) on 2, 4 or 8 GPUs.
fn read_allreduce(path: &Path, version: &str) -> Result<Vec<AllreduceRow>> {
    let mut rows = Vec::new();
    let cols = [
        "op_name",
        "nccl_dtype",
        "num_gpus",
        "message_size",
        "latency",
    ];
    Table::for_each(path, &cols, |c| {
        if c.str("op_name")? != "all_reduce" || c.str("nccl_dtype")? != "half" {
            return Ok(());
        }
        let gpus: u32 = c.uint("num_gpus")?;
        if ![2, 4, 8].contains(&gpus) {
            return Ok(());
        }
        let elements: u64 = c.uint("message_size")?;
        let bytes = elements * 2;
        let seconds = c.seconds()?;
        let g = f64::from(gpus);
        rows.push(AllreduceRow {
            gpus,
            bytes,
            seconds,
            bus_gb_s: bytes as f64 * 2.0 * (g - 1.0) / g / seconds / 1e9,
            algorithm: format!("nccl {version}"),
        });
        Ok(())
    })?;
    if rows.is_empty() {
        return Err(ImportError::NoRows {
            path: path.to_path_buf(),
            what: "no all_reduce rows in half precision for 2, 4 or 8 GPUs".into(),
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_numerically() {
        let mut v = vec!["2.23", "2.29.2", "2.27.3", "2.3", "1.3.0rc20"];
        v.sort_by_key(|s| version_key(s));
        assert_eq!(v, ["1.3.0rc20", "2.3", "2.23", "2.27.3", "2.29.2"]);
    }

    #[test]
    fn device_names_map_to_catalog_ids() {
        assert_eq!(
            gpu_id_from_device("NVIDIA H100 80GB HBM3").as_deref(),
            Some("h100")
        );
        assert_eq!(gpu_id_from_device("NVIDIA H200").as_deref(), Some("h200"));
        assert_eq!(gpu_id_from_device("NVIDIA Foo"), None);
    }
}
