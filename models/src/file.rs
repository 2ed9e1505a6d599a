//! Reading the files a user names (scenarios, `config.json`, profiles, data, run
//! tables): regular files only, at most a stated number of bytes.
//!
//! Invariants: a path that is not a regular file (`/dev/zero`, a FIFO, a folder) is
//! refused before it is opened, so it can neither block nor stream without end; a file
//! longer than the caller's limit is refused after reading at most `limit + 1` bytes, so
//! no read allocates more than the limit. Errors are `std::io::Error`s whose message
//! says which of the two happened (the caller adds the file).

use std::io::{self, Read};
use std::path::Path;

/// Most bytes of a text file read whole: a scenario, a `config.json`, a calibration or
/// engine profile, a measured-serving file: 1 GiB (a shipped calibration profile is
/// about 1.4 MB).
pub const MAX_TEXT_FILE_BYTES: u64 = 1 << 30;

/// Refuse anything but a regular file (symbolic links are followed).
pub fn check_regular(path: &Path) -> io::Result<()> {
    let meta = std::fs::metadata(path)?;
    if meta.is_file() {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file (a folder, device or pipe cannot be read as input)",
        ))
    }
}

/// The bytes of the regular file `path`, at most `limit` of them.
pub fn read_bytes(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    check_regular(path)?;
    let file = std::fs::File::open(path)?;
    read_limited(file, limit)
}

/// Everything `r` yields, at most `limit` bytes (an error past them).
pub fn read_limited(r: impl Read, limit: u64) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    r.take(limit.saturating_add(1)).read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {limit} bytes, the most this input may have"),
        ));
    }
    Ok(out)
}

/// The UTF-8 text of the regular file `path`, at most `limit` bytes.
pub fn read_text(path: &Path, limit: u64) -> io::Result<String> {
    String::from_utf8(read_bytes(path, limit)?).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_devices_and_folders_and_bounds_size() {
        let e = read_text(Path::new("/dev/zero"), 10).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        let e = read_text(Path::new("."), 10).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        let dir = std::env::temp_dir().join(format!("xpyd-models-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("f.txt");
        std::fs::write(&p, "0123456789").unwrap();
        assert_eq!(read_text(&p, 10).unwrap(), "0123456789");
        let e = read_text(&p, 9).unwrap_err();
        assert!(e.to_string().contains("larger than 9 bytes"), "{e}");
        std::fs::write(&p, [0xff, 0xfe]).unwrap();
        assert!(read_text(&p, 10).unwrap_err().to_string().contains("UTF-8"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
