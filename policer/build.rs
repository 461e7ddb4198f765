//! Builds the eBPF crate (excluded from the workspace: it targets bpfel-unknown-none) and
//! leaves the object where `src/ebpf.rs` embeds it.
//!
//! The eBPF target needs Debian's rustc (which ships a precompiled `core` for BPF) and
//! bpf-linker: `scripts/setup.sh` installs both (DESIGN.md section 4).
use std::{env, path::PathBuf, process::Command};

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap();
    let ebpf_dir = root.join("policer-ebpf");
    let common_dir = root.join("policer-common");
    for path in [
        ebpf_dir.join("src"),
        ebpf_dir.join("Cargo.toml"),
        ebpf_dir.join(".cargo/config.toml"),
        common_dir.join("src"),
        common_dir.join("Cargo.toml"),
    ] {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    println!("cargo:rerun-if-env-changed=POLICER_EBPF_RUSTC");

    // Keep the eBPF build in the workspace target dir so it is cached across builds.
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    let target_dir = target_dir(&out_dir).join("ebpf");
    let rustc = env::var("POLICER_EBPF_RUSTC").unwrap_or_else(|_| "/usr/bin/rustc".into());
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());

    let mut cmd = Command::new(cargo);
    cmd.current_dir(&ebpf_dir)
        .args(["build", "--release", "--target", "bpfel-unknown-none"])
        .arg("--target-dir")
        .arg(&target_dir)
        .env("RUSTC", &rustc)
        // aya-ebpf uses `asm_experimental_arch`, a nightly feature of the stable compiler.
        .env("RUSTC_BOOTSTRAP", "1");
    for var in [
        "RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTUP_TOOLCHAIN",
        "CARGO_BUILD_TARGET",
        "CARGO_MAKEFLAGS",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().unwrap_or_else(|e| {
        panic!("cannot run cargo to build policer-ebpf: {e}; run scripts/setup.sh first")
    });
    assert!(
        status.success(),
        "building policer-ebpf failed ({status}); it needs {rustc} with the bpfel core and \
         bpf-linker: run `sudo scripts/setup.sh`"
    );
    let objects = target_dir.join("bpfel-unknown-none/release");
    println!("cargo:rustc-env=POLICER_EBPF_OBJECT={}", objects.join("policer").display());
    println!("cargo:rustc-env=POLICER_ANCHORS_OBJECT={}", objects.join("anchors").display());
}

/// `<workspace>/target` from `<...>/target/<profile>/build/policer-<hash>/out`.
fn target_dir(out_dir: &std::path::Path) -> PathBuf {
    out_dir.ancestors().nth(4).map(PathBuf::from).unwrap_or_else(|| out_dir.to_path_buf())
}
