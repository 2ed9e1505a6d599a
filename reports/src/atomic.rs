//! Write-then-rename output files.
//!
//! Invariant: a file appears under its final name only complete. Until
//! [`AtomicFile::commit`] it lives as `.<name>.partial` in the same folder (same file
//! system, so the rename is atomic); dropping an uncommitted `AtomicFile` removes it.

use crate::ReportError;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// An output file being written.
#[derive(Debug)]
pub struct AtomicFile {
    tmp: PathBuf,
    dest: PathBuf,
    out: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Start writing `dest`.
    pub fn create(dest: &Path) -> Result<AtomicFile, ReportError> {
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dest.with_file_name(format!(".{name}.partial"));
        let f = File::create(&tmp).map_err(|source| ReportError::Io {
            path: tmp.clone(),
            source,
        })?;
        Ok(AtomicFile {
            tmp,
            dest: dest.to_path_buf(),
            out: Some(BufWriter::new(f)),
        })
    }

    /// The writer.
    pub fn writer(&mut self) -> &mut BufWriter<File> {
        self.out.as_mut().expect("not committed yet")
    }

    /// Path of the temporary file (for error messages).
    pub fn tmp_path(&self) -> &Path {
        &self.tmp
    }

    /// Flush and move into place.
    pub fn commit(mut self) -> Result<(), ReportError> {
        let out = self.out.take().expect("not committed yet");
        let f = out.into_inner().map_err(|e| ReportError::Io {
            path: self.tmp.clone(),
            source: e.into_error(),
        })?;
        f.sync_all().map_err(|source| ReportError::Io {
            path: self.tmp.clone(),
            source,
        })?;
        drop(f);
        std::fs::rename(&self.tmp, &self.dest).map_err(|source| ReportError::Io {
            path: self.dest.clone(),
            source,
        })
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writer().write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.writer().flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.out.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Write `bytes` to `dest` atomically.
pub fn write_file(dest: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let mut f = AtomicFile::create(dest)?;
    let tmp = f.tmp_path().to_path_buf();
    f.writer()
        .write_all(bytes)
        .map_err(|source| ReportError::Io { path: tmp, source })?;
    f.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_file_leaves_nothing_and_committed_file_appears_whole() {
        let dir = std::env::temp_dir().join(format!("xpyd-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let dest = dir.join("a.txt");
        {
            let mut f = AtomicFile::create(&dest).unwrap();
            f.writer().write_all(b"half").unwrap();
        }
        assert!(!dest.exists());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        write_file(&dest, b"whole").unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"whole");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
