//! An output folder as one unit: a command writes every file into a staging folder beside
//! the output folder and [`Staging::commit`] puts the whole set in place, so a folder
//! never holds files of two runs, and files a previous run left there that this run does
//! not write (a `requests-baseline.csv` of a run with a baseline, under a run without one)
//! are gone.
//!
//! Invariants:
//! - Until [`Staging::commit`], the output folder is untouched; the staging folder
//!   (`PARENT/.NAME.xpyd-staging-PID`) holds the new files. Dropping an uncommitted
//!   `Staging` removes it; a caller that handles SIGINT/SIGTERM removes
//!   [`Staging::path`] (the CLI does), so an interrupted command leaves nothing.
//! - Commit, when the output folder is missing or empty, is one `rename`. When it holds
//!   only files xpyd writes ([`is_output_name`]: a previous run, sweep or plan, or
//!   their `.partial` files), the old folder is renamed aside, the staging folder renamed
//!   in, and the old one removed: at no time does the folder hold files of both. When it
//!   also holds files xpyd does not write (the user's own), those are left alone: xpyd's
//!   files of a previous run are removed first, then the new ones are renamed in one by
//!   one (an interruption in that window leaves a folder `xpyd report` refuses, see
//!   `run_report::RunInputs::read`).

use crate::ReportError;
use std::path::{Path, PathBuf};

/// File and folder names xpyd writes into an output folder (`xpyd run`, `sweep`,
/// `plan`); shard files (`shard-I-of-N.json`) are not among them, as shards of one plan
/// share a folder.
const OUTPUT_NAMES: &[&str] = &[
    "summary.json",
    "requests.csv",
    "requests-baseline.csv",
    "timeseries.csv",
    "assumptions.json",
    "windows.csv",
    "instances.csv",
    "windows.parquet",
    "instances.parquet",
    "charts",
    "report.html",
    "sweep.csv",
    "sweep.json",
    "plan.csv",
    "pareto.csv",
    "recommended.toml",
    "recommendation.json",
    "manifests",
];

/// Whether `name` is one xpyd writes into output folders, or a temporary file of one
/// (`.NAME.partial`).
pub fn is_output_name(name: &str) -> bool {
    OUTPUT_NAMES.contains(&name)
        || name
            .strip_prefix('.')
            .and_then(|n| n.strip_suffix(".partial"))
            .is_some_and(|n| !n.is_empty())
}

/// A staging folder for the outputs of one command, to be put in place as one unit.
#[derive(Debug)]
pub struct Staging {
    out: PathBuf,
    tmp: PathBuf,
    done: bool,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Staging {
    /// Create the staging folder of output folder `out` (beside it, on the same file
    /// system, its parents created). `out` itself is not touched.
    pub fn begin(out: &Path) -> Result<Staging, ReportError> {
        let out = match std::fs::canonicalize(out) {
            Ok(p) => p,
            Err(_) => std::path::absolute(out).map_err(io(out))?,
        };
        let (Some(parent), Some(name)) = (out.parent(), out.file_name()) else {
            return Err(ReportError::CreateDir {
                path: out.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "an output folder needs a parent folder",
                ),
            });
        };
        crate::create_dir(parent)?;
        let tmp = parent.join(format!(
            ".{}.xpyd-staging-{}",
            name.to_string_lossy(),
            std::process::id()
        ));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
        }
        crate::create_dir(&tmp)?;
        Ok(Staging {
            out,
            tmp,
            done: false,
        })
    }

    /// Where to write the outputs.
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// Put the staged files in place of the output folder's (see the module docs).
    pub fn commit(mut self) -> Result<(), ReportError> {
        self.done = true;
        let result = self.put_in_place();
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
        result
    }

    fn put_in_place(&self) -> Result<(), ReportError> {
        let (out, tmp) = (&self.out, &self.tmp);
        let entries: Vec<String> = match std::fs::read_dir(out) {
            Ok(rd) => rd
                .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect::<Result<_, _>>()
                .map_err(io(out))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return std::fs::rename(tmp, out).map_err(io(out));
            }
            Err(e) => return Err(io(out)(e)),
        };
        if entries.is_empty() {
            std::fs::remove_dir(out).map_err(io(out))?;
            return std::fs::rename(tmp, out).map_err(io(out));
        }
        let is_cwd = std::env::current_dir()
            .ok()
            .and_then(|d| std::fs::canonicalize(d).ok())
            .is_some_and(|d| d == *out);
        if !is_cwd && entries.iter().all(|n| is_output_name(n)) {
            // Swap: the old folder aside, the new one in, the old one removed.
            let old = tmp.with_file_name(
                tmp.file_name()
                    .map(|n| n.to_string_lossy().replace("xpyd-staging", "xpyd-old"))
                    .unwrap_or_default(),
            );
            std::fs::rename(out, &old).map_err(io(out))?;
            if let Err(e) = std::fs::rename(tmp, out) {
                let _ = std::fs::rename(&old, out);
                return Err(io(out)(e));
            }
            return std::fs::remove_dir_all(&old).map_err(io(&old));
        }
        // The folder holds the user's files too: leave those, replace xpyd's.
        for n in entries.iter().filter(|n| is_output_name(n)) {
            let p = out.join(n);
            let removed = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
            removed.map_err(io(&p))?;
        }
        for e in std::fs::read_dir(tmp).map_err(io(tmp))? {
            let e = e.map_err(io(tmp))?;
            let dest = out.join(e.file_name());
            std::fs::rename(e.path(), &dest).map_err(io(&dest))?;
        }
        std::fs::remove_dir(tmp).map_err(io(tmp))
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("xpyd-staging-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn names(d: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn output_names() {
        assert!(is_output_name("requests-baseline.csv"));
        assert!(is_output_name(".requests.csv.partial"));
        assert!(!is_output_name(".partial"));
        assert!(!is_output_name("notes.txt"));
        assert!(!is_output_name("shard-0-of-2.json"));
    }

    #[test]
    fn a_new_run_replaces_the_old_one_whole_and_keeps_the_users_files() {
        let d = dir("swap");
        let out = d.join("out");
        // A previous run with a baseline.
        std::fs::create_dir_all(out.join("charts")).unwrap();
        for n in ["summary.json", "requests.csv", "requests-baseline.csv"] {
            std::fs::write(out.join(n), "old").unwrap();
        }
        std::fs::write(out.join("charts/a.svg"), "old").unwrap();
        // Nothing changes until the commit; dropping a staging leaves nothing.
        {
            let s = Staging::begin(&out).unwrap();
            std::fs::write(s.path().join("summary.json"), "new").unwrap();
        }
        assert_eq!(names(&d), ["out"]);
        let s = Staging::begin(&out).unwrap();
        std::fs::write(s.path().join("summary.json"), "new").unwrap();
        std::fs::write(s.path().join("requests.csv"), "new").unwrap();
        assert_eq!(
            std::fs::read_to_string(out.join("summary.json")).unwrap(),
            "old"
        );
        s.commit().unwrap();
        assert_eq!(names(&out), ["requests.csv", "summary.json"]);
        assert_eq!(
            std::fs::read_to_string(out.join("summary.json")).unwrap(),
            "new"
        );
        assert_eq!(names(&d), ["out"], "no staging or old folder is left");

        // With a file of the user's, it stays and the stale baseline goes.
        std::fs::write(out.join("requests-baseline.csv"), "old").unwrap();
        std::fs::write(out.join("notes.txt"), "mine").unwrap();
        let s = Staging::begin(&out).unwrap();
        std::fs::write(s.path().join("summary.json"), "newer").unwrap();
        s.commit().unwrap();
        assert_eq!(names(&out), ["notes.txt", "summary.json"]);
        assert_eq!(names(&d), ["out"]);

        // A missing folder is created by the commit.
        let fresh = d.join("a/b");
        let s = Staging::begin(&fresh).unwrap();
        std::fs::write(s.path().join("summary.json"), "x").unwrap();
        assert!(!fresh.exists());
        s.commit().unwrap();
        assert_eq!(names(&fresh), ["summary.json"]);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
