//! `cargo xtask vm-test`: the integration tests inside a VM on a second kernel.
//!
//! The host's own kernel is what `cargo test` checks; an eBPF program that the 6.18 verifier
//! takes can still be refused by an older one, and features (TCX links) may be missing
//! there. This boots another kernel (by default Debian bookworm's 6.1, installed by
//! scripts/setup.sh) in QEMU with virtme-ng, which mounts the host's root file system
//! read-only in the guest (writable overlays on /tmp, /etc, /var...), so the guest runs the
//! very test binaries of this build, as root, and writes their output into a directory of
//! the host that it may write to.

use std::{
    fs,
    io::{BufRead as _, BufReader},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};

/// Where scripts/setup.sh installs virtme-ng (a Python venv).
const VNG: &str = "/opt/virtme-ng/bin/vng";
/// The kernel booted by default: Debian bookworm's `linux-image-amd64`.
const DEFAULT_KERNEL_GLOB: &str = "vmlinuz-6.1.";

#[derive(Args, Debug)]
pub struct VmTestArgs {
    /// The kernel image to boot (a bzImage, e.g. /boot/vmlinuz-6.1.0-28-amd64); its modules
    /// must be under /lib/modules of this machine. Default: the newest /boot/vmlinuz-6.1.*.
    #[arg(long, value_name = "PATH")]
    kernel: Option<PathBuf>,
    /// Hardware virtualisation: auto uses KVM where it can boot the kernel, else TCG.
    #[arg(long, value_enum, default_value_t = Accel::Auto)]
    accel: Accel,
    /// Run every test of the suite in the guest, not only the VM selection (slow under TCG).
    #[arg(long)]
    all: bool,
    /// Guest CPUs.
    #[arg(long, default_value_t = 2)]
    cpus: u32,
    /// Give up on the guest after this many seconds.
    #[arg(long, default_value_t = 1200)]
    timeout: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Accel {
    Auto,
    Kvm,
    Tcg,
}

/// One test binary and the tests of it to run in the guest.
struct Suite {
    /// The integration test target (a file of tests/tests/).
    target: &'static str,
    /// libtest arguments: filters, `--test-threads`, `--skip`.
    args: &'static [&'static str],
}

/// What runs in the guest by default: the tests whose outcome depends on the kernel. Under
/// TCG the guest runs some 15-25 times slower than the host, and every program load (the
/// verifier, aya's BTF work) or start of the CLI takes seconds; all but four of the tests
/// took 17 minutes there. Left to the host: the corpus replay (a program load per frame);
/// the tests whose assertions are about timing, which emulation distorts (the delay line,
/// its RTT, ECN marks and CUBIC's reds through it; two CPUs feeding one bucket at once;
/// `set` forty times under a flood); the CLI's own logic (refusals of bad arguments, of a
/// missing root or interface, input echo, default mode, pins of the first layout, `ip netns
/// exec`); and TCP tests whose kernel side other tests cover here (an unpoliced flow; two flows in 5-tuple
/// and dst key modes, which test_run checks in the kernel).
const GUEST_SUITES: &[Suite] = &[
    Suite { target: "test_run", args: &[] },
    Suite {
        target: "robustness",
        args: &[
            "--skip",
            "the_corpus_of_interesting_frames",
            "--skip",
            "two_cpus_feeding_one_bucket",
            "--skip",
            "counters_only_grow_and_set_under_load",
            "--skip",
            "under_ip_netns_exec",
        ],
    },
    Suite {
        target: "cli",
        args: &[
            "a_second_attach_is_refused",
            "detach_leaves_no_pins_no_program",
            "the_mode_is_set_on_attach",
            "log_shows_why_frames_went_unpoliced",
            "a_foreign_xdp_program_is_never_replaced",
        ],
    },
    Suite { target: "simulate", args: &[] },
    // One at a time: TCP rates are asserted, and the guest has two CPUs.
    Suite {
        target: "tcp",
        args: &[
            "--test-threads=1",
            "cubic_flow_is_held_near_cir",
            "bbr_flow_is_held_near_cir",
            "set_changes_the_rate",
        ],
    },
    Suite {
        target: "tc",
        args: &["--test-threads=1", "--skip", "red_ecn_holds_an_ecn_capable_flow"],
    },
    // `apply` on a kernel without TCX (its egress policer is a cls_bpf filter): about two
    // minutes under TCG. The rest of apply, the units, the exporter and `top` are the CLI's
    // own logic, left to the host.
    Suite { target: "apply", args: &["a_file_is_applied_once_changed_live_and_pruned"] },
    // Plans: the verifier of 6.1 must take the program with its plan lookup, and every
    // vector holds there. The 1024 plans (a grace period each) are left to the host.
    Suite {
        target: "plans_test_run",
        args: &["--skip", "refusals_change_nothing_and_the_1025th_plan_is_refused"],
    },
];

/// Every integration test target, for `--all`.
const ALL_TARGETS: &[&str] = &[
    "test_run",
    "robustness",
    "cli",
    "tcp",
    "tc",
    "simulate",
    "apply",
    "plans_test_run",
    "plans",
    "systemd",
    "export",
    "kubernetes",
    "top",
];

/// Frames per program for the fuzz test in the guest (the host runs a million).
const GUEST_FUZZ_FRAMES: u32 = 20_000;

pub fn run(args: &VmTestArgs) -> anyhow::Result<()> {
    let root = workspace_root()?;
    let kernel = match &args.kernel {
        Some(kernel) => kernel.clone(),
        None => default_kernel()?,
    };
    if !kernel.is_file() {
        bail!("no kernel image at {}", kernel.display());
    }
    if !Path::new(VNG).exists() {
        bail!("{VNG} is missing: run `bash scripts/setup.sh` (it installs virtme-ng and QEMU)");
    }

    eprintln!("== building the test binaries");
    let binaries = build_tests(&root)?;
    let policer_bin = root.join("target/debug/policer");
    if !policer_bin.exists() {
        bail!("{} is missing after the build", policer_bin.display());
    }

    let kvm = match args.accel {
        Accel::Kvm => true,
        Accel::Tcg => false,
        Accel::Auto => {
            let works = kvm_boots(&kernel);
            if !works {
                eprintln!(
                    "vm-test: warning: KVM cannot boot {} here; using TCG (emulation, 15-25 \
                     times slower)",
                    kernel.display()
                );
            }
            works
        }
    };

    let out = root.join("target/vm-test");
    if out.exists() {
        fs::remove_dir_all(&out).with_context(|| format!("removing {}", out.display()))?;
    }
    fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let script = guest_script(&binaries, &out, args.all)?;
    let script_path = out.join("guest.sh");
    fs::write(&script_path, script)
        .with_context(|| format!("writing {}", script_path.display()))?;

    eprintln!(
        "== booting {} in QEMU ({}, {} CPUs) and running the tests in it",
        kernel.display(),
        if kvm { "KVM" } else { "TCG" },
        args.cpus
    );
    let started = Instant::now();
    let mut vng = Command::new(VNG);
    vng.arg("--run")
        .arg(&kernel)
        .args(["--cpus", &args.cpus.to_string(), "--memory", "2G"])
        // The guest writes its results here; the rest of the host's file system is
        // read-only to it (its writes elsewhere land in tmpfs overlays).
        .arg("--rwdir")
        .arg(&out)
        .arg("--cwd")
        .arg(&root);
    if !kvm {
        vng.arg("--disable-kvm");
    }
    // Debian's QEMU ships the old virtiofsd, which virtme-ng cannot start: it would wait
    // for it for seconds and then take 9p anyway.
    vng.arg("--force-9p");
    vng.arg("--").arg(format!("sh {}", script_path.display()));
    // virtme-ng runs its helpers (virtme-run) from its own venv's bin.
    vng.env("PATH", format!("/opt/virtme-ng/bin:{}", std::env::var("PATH").unwrap_or_default()));
    let status = run_with_timeout(vng, Duration::from_secs(args.timeout), &out.join("log"))?;
    let elapsed = started.elapsed();

    let rc = fs::read_to_string(out.join("rc")).ok();
    eprintln!(
        "== vm-test: kernel {}, {}, {:.0} s (QEMU exit: {status})",
        kernel.display(),
        if kvm { "KVM" } else { "TCG" },
        elapsed.as_secs_f64()
    );
    match rc.as_deref().map(str::trim) {
        Some("0") => {
            eprintln!("== vm-test: all guest tests passed");
            Ok(())
        }
        Some(rc) => bail!("tests failed in the guest (exit status {rc}); see the log above"),
        None => bail!("the guest did not finish the tests (no exit status written; QEMU {status})"),
    }
}

fn workspace_root() -> anyhow::Result<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    Ok(dir.parent().context("xtask has no parent directory")?.to_path_buf())
}

/// The newest /boot/vmlinuz-6.1.* (Debian bookworm's kernel).
fn default_kernel() -> anyhow::Result<PathBuf> {
    let mut kernels: Vec<PathBuf> = fs::read_dir("/boot")
        .context("reading /boot")?
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_name().to_string_lossy().starts_with(DEFAULT_KERNEL_GLOB))
        .map(|entry| entry.path())
        .collect();
    // Debian's ABI number: 6.1.0-9 < 6.1.0-28.
    kernels.sort_by_key(|path| {
        let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        name.split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<u64>().unwrap_or(0))
            .collect::<Vec<_>>()
    });
    kernels.pop().context(
        "no /boot/vmlinuz-6.1.* found: run `bash scripts/setup.sh` (it installs Debian's \
         linux-image-amd64) or give --kernel PATH",
    )
}

/// Builds everything and returns the integration test executables by target name.
fn build_tests(root: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let status = Command::new("cargo")
        .current_dir(root)
        .args(["build", "--workspace", "--all-targets", "--quiet"])
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build failed");
    }
    let output = Command::new("cargo")
        .current_dir(root)
        .args(["test", "--package", "policer-tests", "--no-run", "--quiet"])
        .arg("--message-format=json")
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo test --no-run")?;
    if !output.status.success() {
        bail!("cargo test --no-run failed");
    }
    let mut binaries = Vec::new();
    for line in output.stdout.lines() {
        let line = line?;
        let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
        let (Some(executable), Some(name)) =
            (message["executable"].as_str(), message["target"]["name"].as_str())
        else {
            continue;
        };
        if message["target"]["kind"][0] == "test" {
            binaries.push((name.to_string(), PathBuf::from(executable)));
        }
    }
    Ok(binaries)
}

/// The shell script the guest runs: each selected test binary, its output into `out/log`,
/// and the first failing exit status (0 if none) into `out/rc`.
fn guest_script(binaries: &[(String, PathBuf)], out: &Path, all: bool) -> anyhow::Result<String> {
    let suites: Vec<(&str, &[&str])> = if all {
        ALL_TARGETS.iter().map(|&target| (target, &[][..])).collect()
    } else {
        GUEST_SUITES.iter().map(|suite| (suite.target, suite.args)).collect()
    };
    let log = out.join("log");
    let mut script = format!(
        "#!/bin/sh\n\
         # Generated by cargo xtask vm-test; runs in the guest as root.\n\
         exec > {log} 2>&1\n\
         rc=0\n\
         echo \"guest: $(uname -r), $(nproc) CPUs\"\n\
         mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf\n\
         # The network namespaces of the tests live here.\n\
         mkdir -p /run/netns\n\
         export POLICER_FUZZ_FRAMES={GUEST_FUZZ_FRAMES} RUST_BACKTRACE=1\n",
        log = log.display()
    );
    for (target, args) in suites {
        let (_, binary) = binaries
            .iter()
            .find(|(name, _)| name == target)
            .with_context(|| format!("no test binary {target} was built"))?;
        let args: Vec<String> = args.iter().map(|arg| format!("'{arg}'")).collect();
        script.push_str(&format!(
            "echo \"== {target}\"\n\
             start=$(date +%s)\n\
             {binary} {args} || {{ s=$?; echo \"== {target} FAILED ($s)\"; [ $rc -ne 0 ] || rc=$s; }}\n\
             echo \"== {target}: $(( $(date +%s) - start )) s\"\n",
            binary = binary.display(),
            args = args.join(" ")
        ));
    }
    script.push_str(&format!("echo $rc > {}\nsync\n", out.join("rc").display()));
    Ok(script)
}

/// Whether KVM can boot `kernel` here: /dev/kvm may exist yet refuse the CPU model QEMU
/// asks for (nested virtualisation without some MSRs), and then QEMU aborts at once or the
/// guest hangs. A boot without a root file system is tried, in QEMU as virtme-ng starts it
/// (`-cpu host`): a kernel that works panics for want of a root within seconds.
fn kvm_boots(kernel: &Path) -> bool {
    if fs::OpenOptions::new().read(true).write(true).open("/dev/kvm").is_err() {
        return false;
    }
    let mut qemu = Command::new("qemu-system-x86_64");
    qemu.args(["-accel", "kvm", "-cpu", "host", "-m", "256", "-smp", "1"])
        .args(["-display", "none", "-vga", "none", "-serial", "stdio", "-no-reboot"])
        .arg("-kernel")
        .arg(kernel)
        .args(["-append", "console=ttyS0 panic=-1 root=/dev/nonexistent"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let Ok(mut child) = qemu.spawn() else { return false };
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("Kernel panic") || line.contains("VFS: Unable to mount root") {
                let _ = tx.send(());
                return;
            }
        }
    });
    let booted = rx.recv_timeout(Duration::from_secs(20)).is_ok();
    let _ = child.kill();
    let _ = child.wait();
    booted
}

/// Runs `command`, killing it after `timeout`, and meanwhile copies what the guest adds to
/// `log` to stderr. Its own output is copied to stderr through pipes: QEMU opens the guest
/// console as a file at /proc/self/fd/N, which would truncate a log file that the output
/// of this process is redirected to.
fn run_with_timeout(mut command: Command, timeout: Duration, log: &Path) -> anyhow::Result<String> {
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    // A group of its own, so that a timeout ends QEMU too, not only vng (a Python script).
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command.spawn().context("starting vng (virtme-ng)")?;
    let copiers: Vec<_> = [
        child.stdout.take().map(|out| Box::new(out) as Box<dyn std::io::Read + Send>),
        child.stderr.take().map(|err| Box::new(err) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|mut from| std::thread::spawn(move || std::io::copy(&mut from, &mut std::io::stderr())))
    .collect();
    let deadline = Instant::now() + timeout;
    let mut shown = 0;
    let mut show_log = || {
        if let Ok(text) = fs::read(log)
            && text.len() > shown
        {
            eprint!("{}", String::from_utf8_lossy(&text[shown..]));
            shown = text.len();
        }
    };
    loop {
        show_log();
        if let Some(status) = child.try_wait().context("waiting for vng")? {
            for copier in copiers {
                let _ = copier.join();
            }
            show_log();
            return Ok(status.to_string());
        }
        if Instant::now() > deadline {
            // SAFETY: kill(2) on the process group made for vng above, and nothing else.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
            return Ok(format!("killed after {} s", timeout.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
