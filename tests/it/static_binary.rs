//! Issue 20: the container image's binary needs nothing at run time. No image builder
//! runs on the machines that test this project (no container daemon, no registry), so
//! the test builds what the `Dockerfile` builds as far as the toolchain here allows: the
//! `xpyd` CLI linked statically (`-C target-feature=+crt-static`; the image links musl,
//! this glibc), in its own target directory with the unoptimised `static-check` profile,
//! then checks the ELF file has no program interpreter (no dynamic loader, no shared
//! library) and runs it from an empty folder with an empty environment: `--version`, and
//! the default scenario, whose every input (scenario, GPU profiles, traces, font) is
//! compiled in.

use crate::common::tmpdir;
use std::path::{Path, PathBuf};
use std::process::Command;

/// ELF program header type of the dynamic loader's path (`PT_INTERP`).
const PT_INTERP: u32 = 3;

/// The program header types of a little-endian ELF64 file.
fn program_header_types(elf: &[u8]) -> Vec<u32> {
    assert!(
        elf.len() > 0x40 && &elf[..4] == b"\x7fELF",
        "not an ELF file"
    );
    assert_eq!(elf[4], 2, "not ELF64");
    assert_eq!(elf[5], 1, "not little-endian");
    let u16_at = |o: usize| usize::from(u16::from_le_bytes([elf[o], elf[o + 1]]));
    let phoff = usize::try_from(u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap()))
        .expect("program header offset fits");
    let (entsize, count) = (u16_at(0x36), u16_at(0x38));
    (0..count)
        .map(|i| {
            let o = phoff + i * entsize;
            u32::from_le_bytes(elf[o..o + 4].try_into().unwrap())
        })
        .collect()
}

/// Builds the static CLI and returns its path.
fn build_static() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target_dir = root.join("target/static-check");
    let triple = "x86_64-unknown-linux-gnu";
    let flags = match std::env::var("RUSTFLAGS") {
        Ok(f) if !f.trim().is_empty() => format!("{f} -C target-feature=+crt-static"),
        _ => "-C target-feature=+crt-static".to_owned(),
    };
    let out = Command::new(env!("CARGO"))
        .args([
            "build",
            "--locked",
            "--offline",
            "--profile",
            "static-check",
            "--bin",
            "xpyd",
            "--target",
            triple,
        ])
        .env("RUSTFLAGS", flags)
        .env("CARGO_TARGET_DIR", &target_dir)
        .current_dir(root)
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "static build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    target_dir.join(triple).join("static-check").join("xpyd")
}

#[test]
fn static_binary_runs_from_an_empty_folder_with_no_environment() {
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        return;
    }
    let bin = build_static();
    let types = program_header_types(&std::fs::read(&bin).unwrap());
    assert!(!types.is_empty(), "no program headers");
    assert!(
        !types.contains(&PT_INTERP),
        "{} asks for a dynamic loader: not static",
        bin.display()
    );
    // A copy alone in an empty folder: nothing beside it to read.
    let dir = tmpdir("static-binary");
    let exe = dir.join("xpyd");
    std::fs::copy(&bin, &exe).unwrap();
    let run = |args: &[&str]| {
        Command::new(&exe)
            .args(args)
            .env_clear()
            .current_dir(&dir)
            .output()
            .expect("run the static binary")
    };
    let v = run(&["--version"]);
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    assert!(
        String::from_utf8_lossy(&v.stdout).starts_with("xpyd "),
        "{}",
        String::from_utf8_lossy(&v.stdout)
    );
    let o = run(&[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("TTFT ms p50 / p90 / p99"), "{text}");
    assert!(dir.join("xpyd-out/summary.json").is_file());
    assert!(dir.join("xpyd-out/report.html").is_file());
}
