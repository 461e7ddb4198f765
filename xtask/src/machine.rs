//! Where a benchmark ran, for the head of its report.

use std::process::Command;

/// "x86_64 (2 cores), kernel 6.18.x, commit abc1234, 2026-11-24".
pub fn describe() -> String {
    format!(
        "{} ({} cores), kernel {}, commit {}, {}",
        sh("uname -m"),
        sh("nproc"),
        sh("uname -r"),
        sh("git rev-parse --short HEAD"),
        sh("date -u +%Y-%m-%d")
    )
}

/// A shell command's output, trimmed (empty if it fails).
fn sh(script: &str) -> String {
    Command::new("sh")
        .args(["-c", script])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}
