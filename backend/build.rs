//! Link settings for the server's binary.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        // A position-independent binary moves its pointers at start-up: ~63,000 of
        // them, listed one by one in a 1.5 MB table the loader reads and then leaves
        // resident for the life of the process. Packed (DT_RELR, glibc 2.36 and later,
        // binutils 2.38 and later) the same list takes a few kilobytes.
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
