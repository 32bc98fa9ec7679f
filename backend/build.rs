//! Link settings for the server's binary.

use std::path::PathBuf;
use std::process::Command;

/// Packed relative relocations (DT_RELR).
const PACKED: &str = "-Wl,-z,pack-relative-relocs";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") != "linux" || var("CARGO_CFG_TARGET_ENV") != "gnu" {
        return;
    }
    // A position-independent binary moves its pointers at start-up: ~63,000 of them,
    // listed one by one in a 1.5 MB table the loader reads and then leaves resident
    // for the life of the process. Packed, the same list takes a few kilobytes. It
    // needs binutils 2.38 (an older linker ignores the option) and a C library that
    // loads such a binary, glibc 2.36 or later (Debian 12, the Docker image's base);
    // elsewhere the binary is linked as before.
    if var("HOST") != var("TARGET") {
        return; // the probe below cannot run a cross build's program
    }
    if packed_binaries_run() {
        println!("cargo:rustc-link-arg-bins={PACKED}");
    } else {
        println!(
            "cargo:warning=the linker or C library here cannot pack relocations; \
             the server is linked without it (about 1.5 MB more memory at rest)"
        );
    }
}

/// Links a tiny position-independent program with packed relocations, through `cc`
/// as rustc does, and runs it: the linker must accept the option and this system's
/// loader the program.
fn packed_binaries_run() -> bool {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let source = out.join("packed_probe.c");
    let program = out.join("packed_probe");
    if std::fs::write(&source, "int main(void) { return 0; }\n").is_err() {
        return false;
    }
    let linked = Command::new("cc")
        .args(["-pie", "-fPIE", PACKED, "-o"])
        .arg(&program)
        .arg(&source)
        .output()
        .is_ok_and(|o| o.status.success());
    linked && Command::new(&program).status().is_ok_and(|s| s.success())
}
