//! A sharded `xpyd plan` as a Kubernetes Indexed Job: a ConfigMap holding the scenario
//! (and every file it references), and a `batch/v1` Job of `completionMode: Indexed`
//! with `completions = parallelism = N` whose pod `i` runs
//! `xpyd plan SCENARIO FLAGS --shard i/N --out /out/NAME` and leaves
//! `shard-i-of-N.json` on a shared PersistentVolumeClaim. `xpyd plan SCENARIO FLAGS
//! --merge DIR` then makes the plan from the shard files (see the README's plan section).
//!
//! Invariants: the files keep their paths relative to the scenario's folder (ConfigMap
//! keys cannot hold `/`, so each key maps to its path through the volume's `items`);
//! UTF-8 files go to `data`, others (gzip) base64 to `binaryData`; a ConfigMap holds at
//! most [`CONFIGMAP_MAX_BYTES`] and a larger set of files is an error naming the largest,
//! never a truncated ConfigMap. The pod's `--jobs` equals its CPU request and limit, so
//! the planner does not start a thread per core of the node. Output is a pure function
//! of the spec.
//!
//! Safety of what is embedded: [`check_files`] decides, *before any file is read*, that
//! every file the scenario names is a regular file below the scenario's folder reached
//! through no symbolic link (no `..`, not absolute, no link in any component, its
//! canonical path under the folder's canonical path) and small enough for a ConfigMap;
//! [`scenario_files`] then reads exactly those files and checks that each read file is the
//! one checked (same device and inode). ConfigMap keys are an injective encoding of the
//! paths (`config_key`), so two files never share a key. Every user string that reaches
//! the pod's `args` is escaped against Kubernetes' `$(VAR)` expansion (`$` -> `$$`);
//! only the Job's own `$(JOB_COMPLETION_INDEX)` is expanded. Errors name the scenario
//! field and the path, never the files' contents.
//!
//! The steps, in order: [`scenario_files`] gathers the scenario and the local files it
//! reads (by [`ScenarioFile::file_fields`], the one list of file fields), a
//! [`PlanJobSpec`] names the Job, [`write_plan_job`] writes the two objects
//! ([`emit_plan_job`] gives them as text), and [`merge_command`] is the command that
//! makes the plan from the shards.

use super::ManifestError;
use super::pod::{LABEL_COMPONENT, LABEL_MANAGED, LABEL_NAME, literal};
use super::yaml;
use crate::ReportError;
use crate::atomic::write_file;
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};
use xpyd_sim::scenario::{DEFAULT_FILE_NAME, DEFAULT_SCENARIO, ScenarioFile};

/// Why a plan Job could not be made. Fatal: nothing, or not every file, is written.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The scenario names a local file by an absolute path, which the pods cannot see.
    #[error(
        "{field}: `{path}` is an absolute path, which the Job's pods cannot see: give it relative to the scenario's folder (it then goes into the ConfigMap)"
    )]
    AbsolutePath {
        /// TOML path of the field naming the file.
        field: &'static str,
        /// The path, as the scenario gives it.
        path: String,
    },
    /// A file the scenario names is not below the scenario's folder (`..`).
    #[error(
        "{field}: `{path}` is outside the scenario's folder {}: --emit-job embeds only files below it (no `..`)",
        folder.display()
    )]
    OutsideFolder {
        /// TOML path of the field naming the file.
        field: &'static str,
        /// The path, as the scenario gives it.
        path: String,
        /// The scenario's folder.
        folder: PathBuf,
    },
    /// A file the scenario names is, or is reached through, a symbolic link.
    #[error(
        "{field}: `{path}`: {} is a symbolic link: --emit-job embeds only regular files inside the scenario's folder, never what a link points to (copy the file into the folder)",
        link.display()
    )]
    Symlink {
        /// TOML path of the field naming the file.
        field: &'static str,
        /// The path, as the scenario gives it.
        path: String,
        /// The link.
        link: PathBuf,
    },
    /// A file the scenario names is not a regular file (a folder, a FIFO, a device).
    #[error("{field}: `{path}` is not a regular file")]
    NotAFile {
        /// TOML path of the field naming the file (`scenario` for the scenario itself).
        field: &'static str,
        /// The path, as given.
        path: String,
    },
    /// A file is larger than a ConfigMap holds (checked before it is read).
    #[error(
        "{field}: `{path}` is {bytes} bytes, more than a ConfigMap holds ({CONFIGMAP_MAX_BYTES} bytes, 1 MiB): put the large file in the image or on the volume and point the scenario at its path there"
    )]
    TooLarge {
        /// TOML path of the field naming the file (`scenario` for the scenario itself).
        field: &'static str,
        /// The path, as given.
        path: String,
        /// Its size.
        bytes: u64,
    },
    /// A file changed (was replaced) between its check and its read.
    #[error("{}: changed while it was being embedded: run --emit-job again", path.display())]
    Changed {
        /// The file.
        path: PathBuf,
    },
    /// The scenario file cannot be read.
    #[error("{}: cannot read scenario", path.display())]
    ReadScenario {
        /// The scenario file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file the scenario reads cannot be read.
    #[error("{field}: {}: cannot read a file the scenario uses", path.display())]
    ReadFile {
        /// TOML path of the field naming the file.
        field: &'static str,
        /// The file, resolved against the scenario's folder.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The spec is invalid or its objects cannot be serialised.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The output folder or a file cannot be written.
    #[error(transparent)]
    Write(#[from] ReportError),
}

/// Most bytes the values of one ConfigMap may hold (the API server's 1 MiB limit).
pub const CONFIGMAP_MAX_BYTES: usize = 1 << 20;

/// Where the pod sees the ConfigMap's files.
pub const SCENARIO_MOUNT: &str = "/etc/xpyd/scenario";

/// Where the pod sees the shared volume.
pub const OUT_MOUNT: &str = "/out";

/// One file the plan needs, at its path relative to the scenario's folder.
#[derive(Clone, Debug, PartialEq)]
pub struct JobFile {
    /// Relative path (`scenario.toml`, `traces/conv.csv.gz`): no `..`, not absolute.
    pub path: String,
    /// Contents.
    pub bytes: Vec<u8>,
}

/// What the Job runs and where.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanJobSpec {
    /// Name of the Job and of the ConfigMap (`NAME-scenario`); a DNS label.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// The xpyd container image.
    pub image: String,
    /// Shards (pods), at least 1.
    pub shards: u32,
    /// CPUs per pod (request = limit = `--jobs`), at least 1.
    pub cpus: u32,
    /// The PersistentVolumeClaim the shard files are written to (ReadWriteMany when
    /// pods land on several nodes).
    pub pvc: String,
    /// The scenario's path among `files`; `None`: the pods plan `xpyd plan`'s built-in
    /// default scenario.
    pub scenario: Option<String>,
    /// The scenario and its referenced files.
    pub files: Vec<JobFile>,
    /// `xpyd plan` flags between the scenario and `--shard` (the search settings).
    pub plan_args: Vec<String>,
}

impl PlanJobSpec {
    /// The folder on the shared volume the shard files go to.
    pub fn out_dir(&self) -> String {
        format!("{OUT_MOUNT}/{}", self.name)
    }

    /// The ConfigMap's name.
    pub fn configmap_name(&self) -> String {
        format!("{}-scenario", self.name)
    }
}

/// The local files `base` reads (trace, length tables, a model `config.json`, a
/// calibration profile) as `(field, path)`, in [`ScenarioFile::file_fields`] order, each
/// path once; `builtin:` names and catalog ids are not files. An absolute path is an
/// error: the Job's pods cannot see it.
pub fn referenced_files(base: &ScenarioFile) -> Result<Vec<(&'static str, String)>, JobError> {
    let mut out: Vec<(&'static str, String)> = Vec::new();
    for (field, p) in base.named_file_fields() {
        if !Path::new(&p).is_relative() {
            return Err(JobError::AbsolutePath { field, path: p });
        }
        if !out.iter().any(|(_, q)| *q == p) {
            out.push((field, p));
        }
    }
    Ok(out)
}

/// A file [`check_files`] cleared for embedding; nothing of it has been read.
#[derive(Clone, Debug)]
pub struct CheckedFile {
    /// TOML path of the field naming it (`scenario` for the scenario file).
    pub field: &'static str,
    /// Its path relative to the scenario's folder, normalised (`./a//b` -> `a/b`): the
    /// path the pod sees it at.
    pub rel: String,
    /// Its canonical path.
    pub path: PathBuf,
    /// Its identity when checked, to refuse a file swapped before it is read.
    id: FileId,
}

/// Device and inode of a file (its size elsewhere), where the platform has them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileId(u64, u64);

impl FileId {
    #[cfg(unix)]
    fn of(m: &std::fs::Metadata) -> FileId {
        use std::os::unix::fs::MetadataExt;
        FileId(m.dev(), m.ino())
    }

    #[cfg(not(unix))]
    fn of(_: &std::fs::Metadata) -> FileId {
        FileId(0, 0)
    }
}

/// The scenario file and every file `base` reads, cleared for embedding without reading
/// any of them: the scenario (`None`: the built-in default, which reads no files) must be
/// a regular file; every other file must be relative, below `base_dir` with no `..`,
/// reached through no symbolic link, its canonical path under `base_dir`'s, a regular
/// file and at most [`CONFIGMAP_MAX_BYTES`]. Returns the scenario first.
pub fn check_files(
    scenario: Option<&Path>,
    base: &ScenarioFile,
    base_dir: &Path,
) -> Result<Vec<CheckedFile>, JobError> {
    let Some(p) = scenario else {
        return Ok(Vec::new());
    };
    let shown = |p: &Path| p.display().to_string();
    let path = std::fs::canonicalize(p).map_err(|source| JobError::ReadScenario {
        path: p.to_path_buf(),
        source,
    })?;
    let meta = std::fs::metadata(&path).map_err(|source| JobError::ReadScenario {
        path: p.to_path_buf(),
        source,
    })?;
    let scenario_file = checked("scenario", &shown(p), scenario_key_name(p), path, &meta)?;
    let mut out = vec![scenario_file];
    let folder_given = if base_dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        base_dir
    };
    let folder = std::fs::canonicalize(folder_given).map_err(|source| JobError::ReadFile {
        field: "scenario",
        path: folder_given.to_path_buf(),
        source,
    })?;
    for (field, given) in referenced_files(base)? {
        let outside = || JobError::OutsideFolder {
            field,
            path: given.clone(),
            folder: folder.clone(),
        };
        let mut parts: Vec<&str> = Vec::new();
        for c in Path::new(&given).components() {
            match c {
                std::path::Component::CurDir => {}
                std::path::Component::Normal(n) => {
                    parts.push(n.to_str().ok_or_else(outside)?);
                }
                _ => return Err(outside()),
            }
        }
        if parts.is_empty() {
            return Err(JobError::NotAFile { field, path: given });
        }
        // No component may be a link: check each with lstat, from the folder down.
        let mut cur = folder.clone();
        let mut meta = None;
        for part in &parts {
            cur.push(part);
            let m = std::fs::symlink_metadata(&cur).map_err(|source| JobError::ReadFile {
                field,
                path: cur.clone(),
                source,
            })?;
            if m.file_type().is_symlink() {
                return Err(JobError::Symlink {
                    field,
                    path: given.clone(),
                    link: cur,
                });
            }
            meta = Some(m);
        }
        let Some(meta) = meta else {
            return Err(JobError::NotAFile { field, path: given });
        };
        let canonical = std::fs::canonicalize(&cur).map_err(|source| JobError::ReadFile {
            field,
            path: cur.clone(),
            source,
        })?;
        if !canonical.starts_with(&folder) {
            return Err(outside());
        }
        let rel = parts.join("/");
        if out.iter().any(|f| f.rel == rel) {
            continue;
        }
        out.push(checked(field, &given, rel, canonical, &meta)?);
    }
    Ok(out)
}

/// The key name of the scenario file among the files: its file name.
fn scenario_key_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "scenario.toml".into())
}

/// `path` as a [`CheckedFile`] if `meta` (not following links) is a regular file of at
/// most [`CONFIGMAP_MAX_BYTES`].
fn checked(
    field: &'static str,
    given: &str,
    rel: String,
    path: PathBuf,
    meta: &std::fs::Metadata,
) -> Result<CheckedFile, JobError> {
    if !meta.is_file() {
        return Err(JobError::NotAFile {
            field,
            path: given.to_string(),
        });
    }
    if meta.len() > CONFIGMAP_MAX_BYTES as u64 {
        return Err(JobError::TooLarge {
            field,
            path: given.to_string(),
            bytes: meta.len(),
        });
    }
    Ok(CheckedFile {
        field,
        rel,
        path,
        id: FileId::of(meta),
    })
}

/// Read a [`CheckedFile`]: the file opened must be the one checked, and no larger than
/// a ConfigMap holds.
fn read_checked(f: &CheckedFile) -> Result<Vec<u8>, JobError> {
    use std::io::Read;
    let io = |source| JobError::ReadFile {
        field: f.field,
        path: f.path.clone(),
        source,
    };
    let file = std::fs::File::open(&f.path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if FileId::of(&meta) != f.id || !meta.is_file() {
        return Err(JobError::Changed {
            path: f.path.clone(),
        });
    }
    let mut bytes = Vec::new();
    file.take(CONFIGMAP_MAX_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() > CONFIGMAP_MAX_BYTES {
        return Err(JobError::TooLarge {
            field: f.field,
            path: f.rel.clone(),
            bytes: bytes.len() as u64,
        });
    }
    Ok(bytes)
}

/// The files of the ConfigMap: the scenario file `scenario` (under its file name) and
/// every file its parsed form `base` reads, at its path relative to `base_dir`, each
/// cleared by [`check_files`] before it is read; without a scenario file, the built-in
/// default scenario (which reads no files). Returns the scenario's name among the
/// files, and the files, scenario first.
pub fn scenario_files(
    scenario: Option<&Path>,
    base: &ScenarioFile,
    base_dir: &Path,
) -> Result<(String, Vec<JobFile>), JobError> {
    if scenario.is_none() {
        let name = DEFAULT_FILE_NAME.to_string();
        let files = vec![JobFile {
            path: name.clone(),
            bytes: DEFAULT_SCENARIO.as_bytes().to_vec(),
        }];
        return Ok((name, files));
    }
    let checked = check_files(scenario, base, base_dir)?;
    let mut files = Vec::with_capacity(checked.len());
    for f in &checked {
        let bytes = read_checked(f).map_err(|e| match (f.field, e) {
            ("scenario", JobError::ReadFile { path, source, .. }) => {
                JobError::ReadScenario { path, source }
            }
            (_, e) => e,
        })?;
        files.push(JobFile {
            path: f.rel.clone(),
            bytes,
        });
    }
    Ok((checked[0].rel.clone(), files))
}

/// Write the objects of [`emit_plan_job`] to `dir` (created if missing), each file
/// atomically; returns the file names written, in order.
pub fn write_plan_job(dir: &Path, spec: &PlanJobSpec) -> Result<Vec<String>, JobError> {
    let out = emit_plan_job(spec)?;
    std::fs::create_dir_all(dir).map_err(|source| ReportError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })?;
    for (name, text) in &out {
        write_file(&dir.join(name), text.as_bytes())?;
    }
    Ok(out.into_iter().map(|(name, _)| name).collect())
}

/// The shell command that makes the plan from the Job's shard files once they are
/// copied into `SHARDS_DIR`: `xpyd plan [SCENARIO] PLAN_ARGS --merge SHARDS_DIR`, each
/// argument quoted for a POSIX shell where it needs it.
pub fn merge_command(scenario: Option<&str>, plan_args: &[String]) -> String {
    let mut merge = vec!["xpyd".to_string(), "plan".to_string()];
    if let Some(p) = scenario {
        merge.push(shell_quote(p));
    }
    merge.extend(plan_args.iter().map(|a| shell_quote(a)));
    merge.push("--merge".into());
    merge.push("SHARDS_DIR".into());
    merge.join(" ")
}

/// `s` quoted for a POSIX shell when it holds anything but plain characters (an empty
/// `s` is `''`).
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.,/=:".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// `(file, YAML)` of the ConfigMap (`plan-configmap.yaml`) and the Job (`plan-job.yaml`).
pub fn emit_plan_job(spec: &PlanJobSpec) -> Result<Vec<(String, String)>, ManifestError> {
    plan_job_objects(spec)?
        .into_iter()
        .map(|(file, object)| {
            let text = yaml::to_yaml(&object).map_err(|message| ManifestError::Yaml {
                file: file.clone(),
                message,
            })?;
            Ok((file, text))
        })
        .collect()
}

/// The objects of [`emit_plan_job`], as JSON values.
pub fn plan_job_objects(spec: &PlanJobSpec) -> Result<Vec<(String, Value)>, ManifestError> {
    validate(spec)?;
    let labels = json!({
        LABEL_NAME: spec.name,
        LABEL_COMPONENT: "plan",
        LABEL_MANAGED: "xpyd",
    });
    let mut data = Map::new();
    let mut binary = Map::new();
    let mut items = Vec::new();
    let mut total = 0usize;
    for f in &spec.files {
        let key = config_key(&f.path);
        if data.contains_key(&key) || binary.contains_key(&key) {
            return Err(invalid("file", &f.path, "is given twice"));
        }
        let value = match std::str::from_utf8(&f.bytes) {
            Ok(text) => {
                data.insert(key.clone(), Value::String(text.to_string()));
                text.len()
            }
            Err(_) => {
                let b = base64(&f.bytes);
                let n = b.len();
                binary.insert(key.clone(), Value::String(b));
                n
            }
        };
        total += value;
        items.push(json!({"key": key, "path": f.path}));
    }
    if total > CONFIGMAP_MAX_BYTES {
        let largest = spec
            .files
            .iter()
            .max_by_key(|f| f.bytes.len())
            .map_or("", |f| f.path.as_str());
        return Err(ManifestError::Invalid {
            field: "configmap".into(),
            value: largest.to_string(),
            reason: format!(
                "and the other files come to {total} bytes, more than a ConfigMap holds ({CONFIGMAP_MAX_BYTES} bytes, 1 MiB): put the large file in the image or on the volume and point the scenario at its path there"
            ),
        });
    }
    let mut cm = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": spec.configmap_name(),
            "namespace": spec.namespace,
            "labels": labels,
        },
    });
    if !data.is_empty() {
        cm["data"] = Value::Object(data);
    }
    if !binary.is_empty() {
        cm["binaryData"] = Value::Object(binary);
    }
    // User strings are passed through literally; only the completion index is expanded.
    let mut args = vec!["plan".to_string()];
    if let Some(s) = &spec.scenario {
        args.push(literal(&format!("{SCENARIO_MOUNT}/{s}")));
    }
    args.extend(spec.plan_args.iter().map(|a| literal(a)));
    args.extend([
        "--jobs".to_string(),
        spec.cpus.to_string(),
        "--shard".to_string(),
        format!("$(JOB_COMPLETION_INDEX)/{}", spec.shards),
        "--out".to_string(),
        spec.out_dir(),
    ]);
    let mut configmap_volume = json!({"name": spec.configmap_name()});
    if !items.is_empty() {
        configmap_volume["items"] = Value::Array(items);
    }
    let cpu = spec.cpus.to_string();
    let job = json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": spec.name,
            "namespace": spec.namespace,
            "labels": labels,
        },
        "spec": {
            "completionMode": "Indexed",
            "completions": spec.shards,
            "parallelism": spec.shards,
            "backoffLimit": spec.shards.saturating_mul(2),
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    // The image's user (distroless `nonroot`, see the Dockerfile): the
                    // claim's files become writable by its group.
                    "securityContext": {"runAsNonRoot": true, "runAsUser": 65532, "fsGroup": 65532},
                    "containers": [{
                        "name": "xpyd",
                        "image": spec.image,
                        "command": ["xpyd"],
                        "args": args,
                        "env": [{
                            "name": "JOB_COMPLETION_INDEX",
                            "valueFrom": {"fieldRef": {
                                "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"
                            }},
                        }],
                        "resources": {
                            "requests": {"cpu": cpu, "memory": "2Gi"},
                            "limits": {"cpu": cpu, "memory": "2Gi"},
                        },
                        "volumeMounts": [
                            {"name": "scenario", "mountPath": SCENARIO_MOUNT, "readOnly": true},
                            {"name": "out", "mountPath": OUT_MOUNT},
                        ],
                    }],
                    "volumes": [
                        {"name": "scenario", "configMap": configmap_volume},
                        {"name": "out", "persistentVolumeClaim": {"claimName": spec.pvc}},
                    ],
                },
            },
        },
    });
    Ok(vec![
        ("plan-configmap.yaml".to_string(), cm),
        ("plan-job.yaml".to_string(), job),
    ])
}

fn invalid(field: &str, value: impl ToString, reason: &str) -> ManifestError {
    ManifestError::Invalid {
        field: field.into(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// DNS-1123 label: lowercase alphanumerics and `-`, alphanumeric at both ends, 1-63.
fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

fn validate(spec: &PlanJobSpec) -> Result<(), ManifestError> {
    // `NAME-scenario` must be a DNS label too: 9 characters fewer.
    if !is_dns_label(&spec.name) || spec.name.len() > 63 - "-scenario".len() {
        return Err(invalid(
            "name",
            &spec.name,
            "must be lowercase letters, digits and '-', starting and ending alphanumeric, at most 54 characters",
        ));
    }
    if !is_dns_label(&spec.namespace) {
        return Err(invalid("namespace", &spec.namespace, "is not a DNS label"));
    }
    if !is_dns_label(&spec.pvc) && !spec.pvc.split('.').all(is_dns_label) {
        return Err(invalid("pvc", &spec.pvc, "is not a valid claim name"));
    }
    if spec.image.trim().is_empty() || spec.image.chars().any(char::is_whitespace) {
        return Err(invalid("image", &spec.image, "is not an image reference"));
    }
    if spec.shards == 0 {
        return Err(invalid("shards", spec.shards, "must be at least 1"));
    }
    if spec.cpus == 0 {
        return Err(invalid("cpus", spec.cpus, "must be at least 1"));
    }
    for f in &spec.files {
        let p = std::path::Path::new(&f.path);
        let ok = !f.path.is_empty()
            && p.is_relative()
            && p.components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !ok {
            return Err(invalid(
                "file",
                &f.path,
                "must be a path below the scenario's folder (no `..`, not absolute) to be mounted from a ConfigMap",
            ));
        }
        if config_key(&f.path).len() > CONFIGMAP_KEY_MAX {
            return Err(invalid(
                "file",
                &f.path,
                &format!(
                    "is too long: its ConfigMap key would pass the API server's {CONFIGMAP_KEY_MAX} characters"
                ),
            ));
        }
    }
    Ok(())
}

/// Longest ConfigMap key the API server accepts.
const CONFIGMAP_KEY_MAX: usize = 253;

/// The ConfigMap key of a relative path, an injective encoding into the characters a
/// key may hold (`[-._a-zA-Z0-9]`): ASCII letters, digits, `-` and `.` stay, `/` becomes
/// `__`, and every other byte (`_` included) becomes `_` and two uppercase hex digits
/// (`x y.csv` -> `x_20y.csv`, `x_y.csv` -> `x_5Fy.csv`); a leading `.` becomes `_2E`, as
/// a key may not start with `..`. Two paths never share a key.
fn config_key(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for (i, b) in path.bytes().enumerate() {
        match b {
            b'/' => out.push_str("__"),
            b'.' if i == 0 => out.push_str("_2E"),
            b if b.is_ascii_alphanumeric() || b == b'-' || b == b'.' => out.push(char::from(b)),
            b => out.push_str(&format!("_{b:02X}")),
        }
    }
    out
}

/// Standard base64 with padding (RFC 4648), as `binaryData` wants.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), enc);
        }
    }

    #[test]
    fn shell_quote_leaves_plain_words_and_quotes_the_rest() {
        assert_eq!(shell_quote("--tp"), "--tp");
        assert_eq!(shell_quote("2,4"), "2,4");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("$(id)"), "'$(id)'");
        assert_eq!(
            merge_command(Some("s.toml"), &["--set".into(), "x=\"y z\"".into()]),
            "xpyd plan s.toml --set 'x=\"y z\"' --merge SHARDS_DIR"
        );
        assert_eq!(
            merge_command(Some("my dir/$(id).toml"), &[]),
            "xpyd plan 'my dir/$(id).toml' --merge SHARDS_DIR"
        );
        assert_eq!(merge_command(None, &[]), "xpyd plan --merge SHARDS_DIR");
    }

    #[test]
    fn absolute_file_paths_are_refused() {
        let mut f: ScenarioFile = toml::from_str(DEFAULT_SCENARIO).unwrap();
        assert!(referenced_files(&f).unwrap().is_empty());
        f.model.id = "/abs/config.json".into();
        assert!(matches!(
            referenced_files(&f),
            Err(JobError::AbsolutePath { field: "model.id", path }) if path == "/abs/config.json"
        ));
    }

    #[test]
    fn keys_are_valid_configmap_keys_and_never_collide() {
        assert_eq!(config_key("traces/a b.csv.gz"), "traces__a_20b.csv.gz");
        assert_eq!(config_key("traces/conv.csv.gz"), "traces__conv.csv.gz");
        assert_eq!(config_key("s.toml"), "s.toml");
        assert_eq!(config_key("x y.csv"), "x_20y.csv");
        assert_eq!(config_key("x_y.csv"), "x_5Fy.csv");
        assert_eq!(config_key("..x"), "_2E.x");
        let paths = [
            "x y.csv",
            "x_y.csv",
            "x/y.csv",
            "x__y.csv",
            "x_2Fy.csv",
            "x_20y.csv",
            "é.csv",
            "_C3_A9.csv",
            ".x",
            "_2Ex",
        ];
        let keys: std::collections::BTreeSet<String> =
            paths.iter().map(|p| config_key(p)).collect();
        assert_eq!(keys.len(), paths.len(), "{keys:?}");
        for k in &keys {
            assert!(
                k.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
            );
            assert!(!k.starts_with(".."), "{k}");
        }
    }

    #[test]
    fn user_args_are_not_expanded_by_kubernetes() {
        let spec = PlanJobSpec {
            name: "p".into(),
            namespace: "default".into(),
            image: "i".into(),
            shards: 2,
            cpus: 1,
            pvc: "c".into(),
            scenario: Some("s$(HOME).toml".into()),
            files: vec![JobFile {
                path: "s$(HOME).toml".into(),
                bytes: b"x".to_vec(),
            }],
            plan_args: vec!["--set".into(), "name=\"a$(HOME)$$b\"".into()],
        };
        let objects = plan_job_objects(&spec).unwrap();
        let args = &objects[1].1["spec"]["template"]["spec"]["containers"][0]["args"];
        let args: Vec<&str> = args
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert!(
            args.contains(&"/etc/xpyd/scenario/s$$(HOME).toml"),
            "{args:?}"
        );
        assert!(args.contains(&"name=\"a$$(HOME)$$$$b\""), "{args:?}");
        assert!(args.contains(&"$(JOB_COMPLETION_INDEX)/2"), "{args:?}");
    }
}
