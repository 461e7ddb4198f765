//! Harness for the integration tests: network namespaces joined by veth pairs, commands run
//! inside them, the `policer` binary, iperf3. Everything a test creates is removed when its
//! handle drops, also when the test fails (panics unwind through the drops).
//!
//! Names are unique per process and per test (`pt<pid><n>`), so tests run in parallel, and
//! pins (which live in the root bpffs, keyed by interface name) never collide.

pub mod delay;
pub mod frames;
pub mod tap;

use delay::DelayLine;

use std::{
    ffi::OsStr,
    fs,
    os::fd::AsRawFd as _,
    path::PathBuf,
    process::{Command, Output, Stdio},
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicU32, Ordering},
    },
    thread,
    time::Duration,
};

/// A fresh name, unique in this process and across concurrent test processes.
pub fn unique_name(tag: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = format!("pt{}{}{tag}", std::process::id() % 100_000, n);
    assert!(name.len() <= 15, "interface name {name} too long");
    name
}

/// Runs a command and returns its output; panics with stderr if it cannot start.
pub fn run<I, S>(program: &str, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

/// Runs a command that must succeed; returns its stdout.
pub fn run_ok<I, S>(program: &str, args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args = os_strings(args);
    succeeded(run(program, &args), || format!("{program} {args:?}"))
}

fn os_strings<I, S>(args: I) -> Vec<std::ffi::OsString>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    args.into_iter().map(|a| a.as_ref().to_os_string()).collect()
}

/// The stdout of a command that must have succeeded; panics with its output otherwise.
pub fn succeeded(output: Output, what: impl FnOnce() -> String) -> String {
    assert!(output.status.success(), "{} failed: {}", what(), text(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Checks that a command failed and printed every one of `messages`; returns its text.
pub fn failed_with(output: &Output, what: impl std::fmt::Display, messages: &[&str]) -> String {
    let text = text(output);
    assert!(!output.status.success(), "{what} should fail, printed: {text}");
    for message in messages {
        assert!(text.contains(message), "{what}: expected {message:?} in: {text}");
    }
    text
}

/// A network namespace, deleted on drop.
pub struct Netns {
    pub name: String,
}

/// The namespaces of this process that exist, for `remove_everything`. Held while one is
/// added, so that none appears unrecorded.
static LIVE: Mutex<Vec<String>> = Mutex::new(Vec::new());

impl Netns {
    pub fn new() -> Netns {
        let name = unique_name("n");
        let mut live = LIVE.lock().unwrap_or_else(PoisonError::into_inner);
        run_ok("ip", ["netns", "add", &name]);
        live.push(name.clone());
        drop(live);
        let ns = Netns { name };
        ns.exec_ok("ip", ["link", "set", "lo", "up"]);
        // No IPv6 autoconfiguration chatter: the tests count every frame.
        ns.exec_ok("sysctl", ["-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
        ns.exec_ok("sysctl", ["-qw", "net.ipv6.conf.default.disable_ipv6=1"]);
        ns
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/run/netns/{}", self.name))
    }

    /// A command inside the namespace (`ip netns exec`).
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program]).stdin(Stdio::null());
        cmd
    }

    pub fn exec<I, S>(&self, program: &str, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut all: Vec<std::ffi::OsString> =
            vec!["netns".into(), "exec".into(), self.name.clone().into(), program.into()];
        all.extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        run("ip", all)
    }

    pub fn exec_ok<I, S>(&self, program: &str, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args = os_strings(args);
        succeeded(self.exec(program, &args), || format!("in {}: {program} {args:?}", self.name))
    }

    /// The `policer` CLI inside the namespace, to spawn. `nsenter --net` rather than
    /// `ip netns exec`, which remounts /sys and would hide the root bpffs where the pins live.
    pub fn policer_command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net={}", self.path().display()))
            .arg(policer_bin())
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs the `policer` CLI inside the namespace to completion.
    pub fn policer<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.policer_command(args).output().expect("run policer")
    }

    /// Runs `f` on this thread with the thread inside the namespace, then moves it back.
    pub fn enter<T>(&self, f: impl FnOnce() -> T) -> T {
        let own = fs::File::open("/proc/thread-self/ns/net").expect("open own netns");
        let target = fs::File::open(self.path()).expect("open netns");
        // SAFETY: setns on valid namespace descriptors; affects only this thread.
        assert_eq!(unsafe { libc::setns(target.as_raw_fd(), libc::CLONE_NEWNET) }, 0);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        // SAFETY: as above, back to where the thread was.
        assert_eq!(unsafe { libc::setns(own.as_raw_fd(), libc::CLONE_NEWNET) }, 0);
        result.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}

impl Default for Netns {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Processes left inside (an iperf3 server) would keep the namespace alive.
        let _ = run("ip", ["netns", "pids", &self.name])
            .stdout
            .split(|&b| b == b'\n')
            .try_for_each(|pid| {
                let pid = String::from_utf8_lossy(pid);
                if !pid.trim().is_empty() {
                    let _ = run("kill", ["-9", pid.trim()]);
                }
                Some(())
            });
        let _ = run("ip", ["netns", "del", &self.name]);
        LIVE.lock().unwrap_or_else(PoisonError::into_inner).retain(|n| *n != self.name);
    }
}

/// For a process that must end at once (a signal): removes every namespace it created that
/// still exists, with the processes inside, the policers attached to their interfaces and
/// those policers' pins, and keeps any other from being created until the process ends.
/// Meant to be followed by `std::process::exit`: the handles of the removed namespaces are
/// not told.
pub fn remove_everything() {
    let live = LIVE.lock().unwrap_or_else(PoisonError::into_inner);
    let me = std::process::id().to_string();
    let mut ifaces = Vec::new();
    for name in live.iter() {
        let pids = run("ip", ["netns", "pids", name]).stdout;
        for pid in String::from_utf8_lossy(&pids).split_whitespace().filter(|p| *p != me) {
            let _ = run("kill", ["-9", pid]);
        }
        let links = run("ip", ["-n", name, "-j", "link", "show"]).stdout;
        let links: serde_json::Value = serde_json::from_slice(&links).unwrap_or_default();
        for link in links.as_array().into_iter().flatten() {
            let Some(iface) = link["ifname"].as_str().filter(|i| *i != "lo") else { continue };
            if let Some(bin) = find_policer_bin() {
                let net = format!("--net=/run/netns/{name}");
                let _ =
                    run("nsenter", [net, bin.display().to_string(), "detach".into(), iface.into()]);
            }
            ifaces.push(iface.to_string());
        }
    }
    for name in live.iter() {
        let _ = run("ip", ["netns", "del", name]);
    }
    // Last, once nothing can attach inside any more.
    for iface in ifaces {
        let _ = fs::remove_dir_all(pin_dir(&iface));
    }
    // The lock stays taken: the process ends next.
    std::mem::forget(live);
}

/// Two namespaces, `a` (10.x.y.1, the sender) and `b` (10.x.y.2, the receiver, where the
/// policer goes), joined by a veth pair or through a delay line. Offloads are off, so that
/// every frame is one packet to the stack and the counters can be compared one to one.
pub struct Testbed {
    pub a: Netns,
    pub b: Netns,
    pub a_if: String,
    pub b_if: String,
    pub a_addr: String,
    pub b_addr: String,
    /// The delay line and its namespace, when there is one.
    middle: Option<Middle>,
}

/// The namespace between `a` and `b` of a testbed with a delay line.
pub struct Middle {
    pub line: DelayLine,
    pub ns: Netns,
    /// Its end of the link into `b` (frames for `b` leave through it).
    pub to_b: String,
}

/// A veth pair with one end in each namespace, two queues each way, so that packets sent
/// from two CPUs can be received (and policed) on two CPUs at once.
fn veth(left: &Netns, left_if: &str, right: &Netns, right_if: &str) {
    run_ok(
        "ip",
        [
            "link",
            "add",
            left_if,
            "netns",
            &left.name,
            "numtxqueues",
            "2",
            "numrxqueues",
            "2",
            "type",
            "veth",
            "peer",
            "name",
            right_if,
            "netns",
            &right.name,
            "numtxqueues",
            "2",
            "numrxqueues",
            "2",
        ],
    );
}

/// Every frame MTU-sized and complete on the wire: no GRO, TSO, GSO or checksum offload
/// (a delay line copies frames as they are; a checksum left to offload would be wrong).
fn no_offloads(ns: &Netns, ifname: &str) {
    ns.exec_ok("ethtool", ["-K", ifname, "gro", "off", "tso", "off", "gso", "off", "tx", "off"]);
}

impl Testbed {
    /// `a` and `b` joined directly by one veth pair (round-trip time: microseconds).
    pub fn new() -> Testbed {
        let (a, b) = (Netns::new(), Netns::new());
        let (a_if, b_if) = (unique_name("a"), unique_name("b"));
        veth(&a, &a_if, &b, &b_if);
        Testbed::addressed(a, b, a_if, b_if, None)
    }

    /// `a` and `b` joined through a delay line in a third namespace that holds every frame
    /// `one_way` in each direction (round-trip time: twice that).
    pub fn with_delay(one_way: Duration) -> Testbed {
        let (a, b, middle) = (Netns::new(), Netns::new(), Netns::new());
        let (a_if, b_if) = (unique_name("a"), unique_name("b"));
        let (ma, mb) = (unique_name("m"), unique_name("m"));
        veth(&a, &a_if, &middle, &ma);
        veth(&b, &b_if, &middle, &mb);
        for ifname in [&ma, &mb] {
            middle.exec_ok("ip", ["link", "set", ifname, "up"]);
            no_offloads(&middle, ifname);
        }
        let line = DelayLine::start(&middle, &ma, &mb, one_way).expect("start the delay line");
        Testbed::addressed(a, b, a_if, b_if, Some(Middle { line, ns: middle, to_b: mb }))
    }

    fn addressed(
        a: Netns,
        b: Netns,
        a_if: String,
        b_if: String,
        middle: Option<Middle>,
    ) -> Testbed {
        // A /30 per testbed, from the pid and a counter, inside 10.0.0.0/8 and only ever
        // between the test's own namespaces.
        static SUBNET: AtomicU32 = AtomicU32::new(0);
        let subnet = (std::process::id() % 200) * 256 + SUBNET.fetch_add(1, Ordering::Relaxed);
        let (hi, lo) = ((subnet >> 8) % 250 + 1, subnet % 256);
        let a_addr = format!("10.{hi}.{lo}.1");
        let b_addr = format!("10.{hi}.{lo}.2");
        a.exec_ok("ip", ["addr", "add", &format!("{a_addr}/30"), "dev", &a_if]);
        b.exec_ok("ip", ["addr", "add", &format!("{b_addr}/30"), "dev", &b_if]);
        for (ns, ifname) in [(&a, &a_if), (&b, &b_if)] {
            ns.exec_ok("ip", ["link", "set", ifname, "up"]);
            no_offloads(ns, ifname);
        }
        Testbed { a, b, a_if, b_if, a_addr, b_addr, middle }
    }

    /// The delay line's namespace, when there is one.
    pub fn middle(&self) -> Option<&Middle> {
        self.middle.as_ref()
    }

    /// `policer ARGS` in the receiver's namespace, expected to succeed.
    pub fn policer_ok(&self, args: &[&str]) -> String {
        succeeded(self.b.policer(args), || format!("policer {args:?}"))
    }

    /// Attaches a policer to the receiver's interface with `args` after `--cir`.
    pub fn attach(&self, extra: &[&str]) -> String {
        let mut args = vec!["attach", self.b_if.as_str()];
        args.extend_from_slice(extra);
        self.policer_ok(&args)
    }

    /// `policer stats --json` of the receiver's interface.
    pub fn stats(&self) -> serde_json::Value {
        let out = self.policer_ok(&["stats", &self.b_if, "--json"]);
        serde_json::from_str(&out).expect("stats --json is JSON")
    }

    /// Runs an iperf3 test from `a` to `b` and returns its JSON report.
    pub fn iperf3(&self, seconds: u32, extra: &[&str]) -> serde_json::Value {
        let port = 20_000
            + (std::process::id() % 20_000) as u16
            + SUBNET_PORT.fetch_add(1, Ordering::Relaxed) as u16;
        let port = port.to_string();
        let mut server = self
            .b
            .command("iperf3")
            .args(["-s", "-1", "-p", &port, "-B", &self.b_addr])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start iperf3 server");
        let mut result = None;
        for _ in 0..50 {
            thread::sleep(Duration::from_millis(100));
            let mut args = vec![
                "-c".to_string(),
                self.b_addr.clone(),
                "-p".into(),
                port.clone(),
                "-t".into(),
                seconds.to_string(),
                "-J".into(),
            ];
            args.extend(extra.iter().map(|s| s.to_string()));
            let output = self.a.exec("iperf3", &args);
            let report: serde_json::Value =
                serde_json::from_slice(&output.stdout).unwrap_or_default();
            // "unable to connect" while the server starts: try again.
            if report["error"].as_str().is_some_and(|e| e.contains("connect")) {
                continue;
            }
            result = Some(report);
            break;
        }
        let _ = server.kill();
        let _ = server.wait();
        let report = result.expect("iperf3 never connected");
        assert!(report["error"].is_null(), "iperf3 failed: {}", report["error"]);
        report
    }

    /// Received goodput in bit/s of an iperf3 report.
    pub fn goodput_bps(report: &serde_json::Value) -> f64 {
        report["end"]["sum_received"]["bits_per_second"].as_f64().expect("sum_received")
    }

    /// IPv4 packets the receiver's stack got (Ip: InReceives, namespace-local).
    pub fn ip_in_receives(&self) -> u64 {
        let snmp = self.b.exec_ok("cat", ["/proc/net/snmp"]);
        let mut lines = snmp.lines().filter(|l| l.starts_with("Ip:"));
        let (names, values) = (lines.next().unwrap(), lines.next().unwrap());
        let index = names.split_whitespace().position(|n| n == "InReceives").unwrap();
        values.split_whitespace().nth(index).unwrap().parse().unwrap()
    }
}

static SUBNET_PORT: AtomicU32 = AtomicU32::new(0);

impl Default for Testbed {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        // Detach (removes the pins); ignore "not attached". Then the namespaces go, and the
        // veth pair with them.
        for (ns, iface) in [(&self.a, &self.a_if), (&self.b, &self.b_if)] {
            if let Some(bin) = find_policer_bin() {
                let net = format!("--net={}", ns.path().display());
                let _ = run(
                    "nsenter",
                    [net, bin.display().to_string(), "detach".into(), iface.clone()],
                );
            }
            let _ = fs::remove_dir_all(pin_dir(iface));
        }
    }
}

/// Where policer pins the objects of `iface` (every direction).
pub fn pin_dir(iface: &str) -> PathBuf {
    policer::pins::iface_dir(iface)
}

/// The `policer` binary of this build: beside the running executable (xtask), or beside
/// the `deps` directory of a test binary.
pub fn policer_bin() -> PathBuf {
    find_policer_bin().expect("the policer binary is missing: run `cargo build` first")
}

fn find_policer_bin() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    exe.ancestors().skip(1).take(2).map(|dir| dir.join("policer")).find(|bin| bin.exists())
}

/// The id of the XDP program on `iface` in `ns`, if any.
pub fn xdp_prog_id(ns: &Netns, iface: &str) -> Option<u64> {
    let out = ns.exec_ok("ip", ["-j", "-d", "link", "show", "dev", iface]);
    let links: serde_json::Value = serde_json::from_str(&out).expect("ip -j");
    let xdp = &links[0]["xdp"];
    xdp["prog"]["id"].as_u64().or_else(|| xdp["attached"][0]["prog"]["id"].as_u64())
}

/// Text of a command's stderr and stdout.
pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    )
}

/// How `policer attach --hook tc` attaches on this kernel, as attach and list print it:
/// through a TCX link from Linux 6.6, else (or with `POLICER_TC=clsact`) as a cls_bpf
/// filter on a clsact qdisc.
pub fn tc_method() -> &'static str {
    let forced = std::env::var_os("POLICER_TC").is_some_and(|api| api == "clsact");
    let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut numbers = release.split(|c: char| !c.is_ascii_digit()).map(|n| n.parse::<u32>());
    let version = (numbers.next(), numbers.next());
    let has_tcx = matches!(version, (Some(Ok(major)), Some(Ok(minor))) if (major, minor) >= (6, 6));
    if forced || !has_tcx { policer::METHOD_CLSACT } else { "TCX" }
}

/// A directory of its own under the system's temporary directory, removed on drop.
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("policer-{}", unique_name(tag)));
        fs::create_dir_all(&path).expect("create a temporary directory");
        TempDir { path }
    }

    /// Writes `contents` to the file `name` in the directory; returns its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.path.join(name);
        fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Detaches every policer of an interface (in a namespace) and removes its pins on drop:
/// for interfaces a [`Testbed`] does not know of.
pub struct PolicerGuard {
    ns_path: PathBuf,
    iface: String,
}

impl PolicerGuard {
    pub fn new(ns: &Netns, iface: &str) -> PolicerGuard {
        PolicerGuard { ns_path: ns.path(), iface: iface.to_string() }
    }
}

impl Drop for PolicerGuard {
    fn drop(&mut self) {
        if let Some(bin) = find_policer_bin() {
            let net = format!("--net={}", self.ns_path.display());
            let _ = run(
                "nsenter",
                [net, bin.display().to_string(), "detach".into(), self.iface.clone()],
            );
        }
        let _ = fs::remove_dir_all(pin_dir(&self.iface));
    }
}

impl Netns {
    /// A veth pair with both ends in this namespace, up, offloads off; deleted with the
    /// namespace. Returns the names of its two ends.
    pub fn veth_pair(&self) -> (String, String) {
        let (left, right) = (unique_name("v"), unique_name("v"));
        self.exec_ok("ip", ["link", "add", &left, "type", "veth", "peer", "name", &right]);
        for ifname in [&left, &right] {
            self.exec_ok("ip", ["link", "set", ifname, "up"]);
            no_offloads(self, ifname);
        }
        (left, right)
    }
}

/// A process running in the background, killed (and reaped) on drop.
pub struct Background {
    pub child: std::process::Child,
    pub what: String,
}

impl Background {
    pub fn spawn(mut command: Command, what: &str) -> Background {
        let child = command.spawn().unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        Background { child, what: what.to_string() }
    }

    /// Panics if the process has exited (with its status).
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited: {status}", self.what);
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
