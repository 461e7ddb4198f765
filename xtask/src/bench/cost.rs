//! Per-packet cost of the kernel programs, from BPF_PROG_TEST_RUN: the policer against a
//! bare pass program and the two anchors (the per-flow bucket a C author writes, without and
//! with a lock), all built the same way and measured interleaved in the same run.

use anyhow::Context as _;
use aya::{
    Ebpf, TestRunResult,
    programs::{Program, SchedClassifier, TestRun, TestRunOptions, Xdp},
};
use clap::Args;
use policer::{Loaded, ProgramKind};
use policer_common::{PROG_TC_PASS, PROG_XDP_PASS, Profile, action, key_mode};
use policer_tests::frames::Packet;

use super::{Spread, anchors};

#[derive(Args)]
pub struct CostArgs {
    /// Repeats of each measurement (the median is reported, with min and max).
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Runs of one frame per hot-flow measurement.
    #[arg(long, default_value_t = 2_000_000)]
    runs: u32,
    /// Flow-table sizes to measure with every flow in the table.
    #[arg(long, value_delimiter = ',', default_values_t = [65_536u32, 1_048_576])]
    flows: Vec<u32>,
    /// Only the one-hot-flow rows (a quick check while changing the kernel program).
    #[arg(long)]
    hot_only: bool,
    /// Flows in the full table that `policer flows --top 10` is timed over (0: skip).
    #[arg(long, default_value_t = 1_048_576)]
    pub walk: u32,
}

impl CostArgs {
    /// Whether the run times `flows --top 10` over a full table.
    pub fn walks(&self) -> bool {
        self.walk > 0 && !self.hot_only
    }

    /// The settings of `cargo xtask bench` (and of `--quick`).
    pub fn preset(quick: bool) -> CostArgs {
        if quick {
            CostArgs {
                repeats: 3,
                runs: 500_000,
                flows: vec![65_536],
                hot_only: false,
                walk: 65_536,
            }
        } else {
            CostArgs {
                repeats: 5,
                runs: 2_000_000,
                flows: vec![65_536, 1_048_576],
                hot_only: false,
                walk: 1_048_576,
            }
        }
    }
}

/// One measured case, ns per packet: the policer, the bare pass program of the same hook,
/// and the anchors where they apply (they parse untagged IPv4 only).
pub struct CostRow {
    pub case: String,
    /// Flows in the table, for the cases that spread lookups over them (1: a hot flow).
    pub flows: Option<u32>,
    pub ours: Spread,
    pub base: Spread,
    pub naive: Option<Spread>,
    pub locked: Option<Spread>,
}

impl CostRow {
    /// The policer's added cost over the naive bucket's, both over the bare program.
    pub fn ratio_to_naive(&self) -> Option<f64> {
        let naive = self.naive?.median - self.base.median;
        Some((self.ours.median - self.base.median) / naive)
    }
}

/// 10 GbE line rate at 64-byte frames: 14.88 Mpps, 67.2 ns per packet on one core.
const LINE_RATE_NS: f64 = 67.2;

/// The anchors' programs.
const ANCHOR_NAIVE_XDP: &str = "anchor_naive_xdp";
const ANCHOR_LOCKED_XDP: &str = "anchor_locked_xdp";
const ANCHOR_NAIVE_TC: &str = "anchor_naive_tc";
const ANCHOR_LOCKED_TC: &str = "anchor_locked_tc";

/// The default profile at a rate no measurement reaches: every packet green, the common
/// path, through the default mode's code.
fn profile() -> Profile {
    profile_at(125_000_000_000)
}

/// [`profile`] at `cir` bytes a second.
fn profile_at(cir: u64) -> Profile {
    let profile =
        Profile::new(cir, 1 << 32, 1 << 31, key_mode::FIVE_TUPLE, action::PASS, action::DROP)
            .expect("a valid profile");
    profile.with_mode(policer_common::mode::TCP).expect("a valid mode")
}

/// Plans of the "with plans" row.
const PLANS: u32 = 64;

/// The policer (XDP) with [`PLANS`] plans, the profile of each that of the rows without
/// plans; `flow_frame(1, _)` (from 10.0.0.1) falls under 10.0.0.0/24, inside 10.0.0.0/16.
fn with_plans() -> anyhow::Result<Loaded> {
    let mut loaded = Loaded::load(&profile(), 1024, ProgramKind::Xdp)?;
    let mut prefixes = vec!["10.0.0.0/24".to_string()];
    prefixes.extend((0..PLANS - 1).map(|i| format!("10.{i}.0.0/16")));
    for prefix in prefixes {
        let prefix = prefix.parse().context("a prefix")?;
        policer::plans::add(&mut loaded.maps, "bench", prefix, &profile())?;
    }
    Ok(loaded)
}

/// Frame `i` of `n` distinct TCP flows (addresses and ports spread over the key).
fn flow_frame(i: u32, len: usize) -> Vec<u8> {
    let src = format!("10.{}.{}.{}", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
    Packet::tcp(&src, "192.0.2.1", (i % 60_000) as u16 + 1024, 443).frame(len)
}

/// Mean ns of one frame run `repeat` times, as the kernel times it.
type Runner<'a> = Box<dyn FnMut(&[u8], u32) -> anyhow::Result<u64> + 'a>;

fn xdp_runner<'a>(ebpf: &'a mut Ebpf, name: &str) -> anyhow::Result<Runner<'a>> {
    runner(ebpf.program_mut(name).context(name.to_string())?, ProgramKind::Xdp, name)
}

fn tc_runner<'a>(ebpf: &'a mut Ebpf, name: &str) -> anyhow::Result<Runner<'a>> {
    runner(ebpf.program_mut(name).context(name.to_string())?, ProgramKind::Tc, name)
}

/// Loads `program` (an XDP or TC program) and returns what runs frames through it.
fn runner<'a>(
    program: &'a mut Program,
    kind: ProgramKind,
    name: &str,
) -> anyhow::Result<Runner<'a>> {
    let loading = || format!("loading {name}");
    match kind {
        ProgramKind::Xdp => {
            let prog: &mut Xdp = program.try_into()?;
            prog.load().with_context(loading)?;
            Ok(timed(prog))
        }
        ProgramKind::Tc => {
            let prog: &mut SchedClassifier = program.try_into()?;
            prog.load().with_context(loading)?;
            Ok(timed(prog))
        }
    }
}

/// The kernel's time for `repeat` runs of a loaded program on one frame.
fn timed<'a, P>(prog: &'a mut P) -> Runner<'a>
where
    P: for<'d> TestRun<Opts<'d> = TestRunOptions<'d>, Result = TestRunResult>,
{
    Box::new(move |frame, repeat| {
        let opts = TestRunOptions { data_in: Some(frame), repeat, ..Default::default() };
        Ok(prog.test_run(opts)?.duration.as_nanos() as u64)
    })
}

fn policer_runner(loaded: &mut Loaded) -> Runner<'_> {
    Box::new(move |frame, repeat| Ok(loaded.test_run(frame, repeat)?.1))
}

/// Mean ns over `frames`, one run each (so each lookup is for another flow).
fn spread(run: &mut Runner<'_>, frames: &[Vec<u8>]) -> anyhow::Result<f64> {
    let mut total = 0u64;
    for frame in frames {
        total += run(frame, 1)?;
    }
    Ok(total as f64 / frames.len() as f64)
}

/// Measures `programs` on the same input, interleaved `repeats` times, so that a noisy
/// moment of the shared machine falls on all of them alike.
fn interleaved(
    programs: &mut [&mut Runner<'_>],
    repeats: usize,
    mut measure: impl FnMut(&mut Runner<'_>) -> anyhow::Result<f64>,
) -> anyhow::Result<Vec<Spread>> {
    let mut samples = vec![Vec::new(); programs.len()];
    for _ in 0..repeats {
        for (program, samples) in programs.iter_mut().zip(&mut samples) {
            samples.push(measure(program)?);
        }
    }
    Ok(samples.into_iter().map(Spread::of).collect())
}

pub fn run(args: &CostArgs) -> anyhow::Result<Vec<CostRow>> {
    let mut rows = Vec::new();
    // Every object before any runner: runners borrow them, and are dropped first.
    let mut base_object = Ebpf::load(policer::ebpf_object()).context("loading the object")?;
    let mut anchors = anchors(1024, 1)?;
    let mut policer_xdp = Loaded::load(&profile(), 1024, ProgramKind::Xdp)?;
    let mut policer_tc = Loaded::load(&profile(), 1024, ProgramKind::Tc)?;
    let mut policer_plans = with_plans()?;
    let mut xdp_pass = xdp_runner(&mut base_object, PROG_XDP_PASS)?;
    let mut ours = policer_runner(&mut policer_xdp);
    {
        let mut ours_plans = policer_runner(&mut policer_plans);
        let (mut naive, mut locked) = anchor_pair(&mut anchors, ProgramKind::Xdp)?;
        let mut programs = [&mut ours, &mut xdp_pass, &mut naive, &mut locked, &mut ours_plans];
        rows.extend(hot_flow_rows(args, "XDP", &mut programs)?);
    }
    let others = [
        (
            "XDP, one hot flow, IPv6, 78-byte frames",
            Packet::tcp("2001:db8::1", "2001:db8::2", 1024, 443).frame(78),
        ),
        (
            "XDP, one hot flow, IPv4 in an 802.1Q tag, 68-byte frames",
            Packet::tcp("10.0.0.1", "192.0.2.1", 1024, 443).vlans(&[0x8100]).frame(68),
        ),
    ];
    for (case, frame) in others {
        let s = interleaved(&mut [&mut ours, &mut xdp_pass], args.repeats, |run| {
            Ok(run(&frame, args.runs)? as f64)
        })?;
        rows.push(row(case.to_string(), None, &s));
    }
    drop(ours);
    drop(xdp_pass);
    rows.push(flood_row(args, &mut anchors)?);

    let mut tc_pass = tc_runner(&mut base_object, PROG_TC_PASS)?;
    let mut ours = policer_runner(&mut policer_tc);
    let (mut naive, mut locked) = anchor_pair(&mut anchors, ProgramKind::Tc)?;
    let mut programs = [&mut ours, &mut tc_pass, &mut naive, &mut locked];
    rows.extend(hot_flow_rows(args, "TC ingress", &mut programs)?);
    drop((ours, naive, locked, tc_pass));

    for &n in args.flows.iter().filter(|_| !args.hot_only) {
        rows.extend(many_flows(args, n)?);
    }
    Ok(rows)
}

/// The flood benchmark's case, one frame after another through `BPF_PROG_TEST_RUN`: the
/// policer at 1 Mbit/s with one bucket (`--key dst`, the defaults otherwise) drops all but
/// the first few hundred frames, against a bare `XDP_DROP` and the naive bucket at the same
/// rate (which drops as much).
fn flood_row(args: &CostArgs, anchors: &mut Ebpf) -> anyhow::Result<CostRow> {
    let profile = Profile::new(125_000, 12_500, 25_000, key_mode::DST, action::PASS, action::DROP)
        .and_then(|p| p.with_mode(policer_common::mode::TCP))
        .map_err(|e| anyhow::anyhow!("the flood's profile: {e:?}"))?;
    let mut policer = Loaded::load(&profile, 1024, ProgramKind::Xdp)?;
    let mut ours = policer_runner(&mut policer);
    let (mut drop, mut naive) = runner_pair(
        anchors,
        ProgramKind::Xdp,
        super::load::PROG_XDP_DROP,
        super::load::PROG_NAIVE_FLOOD,
    )?;
    let frame = flow_frame(1, 64);
    let s = interleaved(&mut [&mut ours, &mut drop, &mut naive], args.repeats, |run| {
        Ok(run(&frame, args.runs)? as f64)
    })?;
    let case = "XDP, one hot flow of 64-byte frames, nearly all red and dropped (a flood; bare: \
                XDP_DROP; naive: at the same rate)";
    Ok(row(case.to_string(), None, &s))
}

/// One hot IPv4 flow of 64- and 1514-byte frames through `programs` (policer, bare program,
/// naive, locked, and optionally the policer with plans, measured at 64 bytes only). The XDP
/// 64-byte row is the one-flow point of the cost-by-flows plot.
fn hot_flow_rows(
    args: &CostArgs,
    hook: &str,
    programs: &mut [&mut Runner<'_>],
) -> anyhow::Result<Vec<CostRow>> {
    let mut rows = Vec::new();
    for len in [64, 1514] {
        let frame = flow_frame(1, len);
        let s = interleaved(programs, args.repeats, |run| Ok(run(&frame, args.runs)? as f64))?;
        let flows = (hook == "XDP" && len == 64).then_some(1);
        rows.push(row(format!("{hook}, one hot flow, IPv4, {len}-byte frames"), flows, &s[..4]));
        if s.len() > 4 && len == 64 {
            let case = format!(
                "{hook}, one hot flow, IPv4, {len}-byte frames, with plans ({PLANS} prefixes, \
                 the frame's a /24 inside a /16)"
            );
            rows.push(row(case, None, &[s[4], s[1], s[2], s[3]]));
        }
    }
    Ok(rows)
}

/// The naive and the locked anchor for one hook.
fn anchor_pair(anchors: &mut Ebpf, kind: ProgramKind) -> anyhow::Result<(Runner<'_>, Runner<'_>)> {
    match kind {
        ProgramKind::Xdp => runner_pair(anchors, kind, ANCHOR_NAIVE_XDP, ANCHOR_LOCKED_XDP),
        ProgramKind::Tc => runner_pair(anchors, kind, ANCHOR_NAIVE_TC, ANCHOR_LOCKED_TC),
    }
}

/// Runners of two programs of one object.
fn runner_pair<'a>(
    ebpf: &'a mut Ebpf,
    kind: ProgramKind,
    first: &str,
    second: &str,
) -> anyhow::Result<(Runner<'a>, Runner<'a>)> {
    let (mut first_prog, mut second_prog) = (None, None);
    for (name, program) in ebpf.programs_mut() {
        if name == first {
            first_prog = Some(program);
        } else if name == second {
            second_prog = Some(program);
        }
    }
    Ok((
        runner(first_prog.context(first.to_string())?, kind, first)?,
        runner(second_prog.context(second.to_string())?, kind, second)?,
    ))
}

/// `n` flows in every table, each frame another flow: first the pass that inserts them all,
/// then the steady state.
fn many_flows(args: &CostArgs, n: u32) -> anyhow::Result<Vec<CostRow>> {
    let frames: Vec<Vec<u8>> = (0..n).map(|i| flow_frame(i, 64)).collect();
    let mut base_object = Ebpf::load(policer::ebpf_object()).context("loading the object")?;
    // Tables an eighth larger than the flows: an LRU table evicts a little before it is full
    // (its free entries are handed to CPUs in batches), and flows visited in turn, as here,
    // would then miss every time.
    let table = n + n / 8;
    // 10 Gbit/s a flow: the bucket takes 5 s to fill, longer than a pass over the flows of
    // every program measured, so the flows stay what they are, active, between two visits.
    // (At the hot rows' rate it fills in 51 ms, and a flow visited every half second could be
    // forgotten and its slot given to another: the rows would then measure new flows.)
    let mut policer = Loaded::load(&profile_at(1_250_000_000), table, ProgramKind::Xdp)?;
    let mut anchors = anchors(table, 1)?;
    let (insert, steady) = {
        let mut xdp_pass = xdp_runner(&mut base_object, PROG_XDP_PASS)?;
        let mut ours = policer_runner(&mut policer);
        let (mut naive, mut locked) = anchor_pair(&mut anchors, ProgramKind::Xdp)?;
        let mut programs = [&mut ours, &mut xdp_pass, &mut naive, &mut locked];
        let insert = interleaved(&mut programs, 1, |run| spread(run, &frames))?;
        let steady = interleaved(&mut programs, args.repeats.min(3), |run| spread(run, &frames))?;
        (insert, steady)
    };
    // An LRU table may evict before it is full (its free entries sit in per-CPU lists): then
    // the steady rows include insertions too.
    let inserted = policer.maps.counters()?.get(policer_common::counter::NEW_FLOWS).packets;
    eprintln!("policer: {inserted} insertions for {n} distinct flows");
    Ok(vec![
        row(format!("XDP, a new flow every frame (insert, {n}-entry tables)"), None, &insert),
        row(format!("XDP, {n} flows in the table, every frame another flow"), Some(n), &steady),
    ])
}

/// A row from spreads in the order policer, bare program, naive, locked (the last two
/// optional).
fn row(case: String, flows: Option<u32>, s: &[Spread]) -> CostRow {
    let row = CostRow {
        case,
        flows,
        ours: s[0],
        base: s[1],
        naive: s.get(2).copied(),
        locked: s.get(3).copied(),
    };
    let anchor = |a: Option<Spread>| a.map_or("-".to_string(), |a| format!("{:.1}", a.median));
    eprintln!(
        "{}: policer {:.1} ns, pass {:.1}, naive {}, locked {}",
        row.case,
        row.ours.median,
        row.base.median,
        anchor(row.naive),
        anchor(row.locked)
    );
    row
}

/// How long `policer flows IFACE --top 10` takes over a full table of `n` IPv4 flows, and
/// the kernel memory of the policer's maps, from an attach with `--max-flows n`.
pub struct TableWalk {
    /// Flows in the tables: every slot and every entry of the LRU table.
    pub flows: u64,
    pub max_flows: u32,
    pub top10_seconds: Spread,
    pub memory_bytes: u64,
}

pub fn table_walk(n: u32, repeats: usize) -> anyhow::Result<TableWalk> {
    use aya::maps::{Array, HashMap, Map, MapData};
    use policer_common::{
        FlowKey, FlowKey4, FlowState, MAP_FLOWS, MAP_SLOT_KEYS4, MAP_SLOTS4, SLOT_WAYS, SlotKeys4,
        slot_sets,
    };
    let bed = policer_tests::Testbed::new();
    bed.attach(&["--cir", "10mbit", "--max-flows", &n.to_string()]);
    let dir = policer::pins::iface_dir(&bed.b_if).join("ingress");
    let open = |name: &str| MapData::from_pin(dir.join(name)).context(name.to_string());
    let mut keys: Array<MapData, SlotKeys4> = Array::try_from(Map::Array(open(MAP_SLOT_KEYS4)?))?;
    let mut states: Array<MapData, FlowState> = Array::try_from(Map::Array(open(MAP_SLOTS4)?))?;
    let mut table: HashMap<MapData, FlowKey, FlowState> =
        HashMap::try_from(Map::LruHashMap(open(MAP_FLOWS)?))?;
    let key = |i: u32, port: u16| FlowKey4 {
        src: (0x0a00_0000 | i).to_be_bytes(),
        dst: [192, 0, 2, 1],
        src_port: port,
        dst_port: 443,
        proto: 6,
        ..FlowKey4::default()
    };
    let state =
        |i: u32| FlowState { bytes: u64::from(i), packets: 1, last_ns: 1, ..FlowState::default() };
    // Every slot in use and the LRU table full. A slot's key need not hash to its set for
    // the walk.
    for set in 0..slot_sets(n) {
        let ways = std::array::from_fn(|way| key(set * SLOT_WAYS + way as u32, 1024));
        keys.set(set, SlotKeys4 { keys: ways }, 0)?;
        for way in 0..SLOT_WAYS {
            states.set(set * SLOT_WAYS + way, state(set * SLOT_WAYS + way), 0)?;
        }
    }
    for i in 0..n {
        table.insert(key(i, 2048).widen(), state(i), 0)?;
    }
    // The release build, as installed (`cargo install`): a debug build spends most of the
    // time copying the million entries.
    let status = std::process::Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--release", "--package", "policer", "--bin", "policer"])
        .status()?;
    anyhow::ensure!(status.success(), "building policer (release) failed");
    let release =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/policer");
    let mut seconds = Vec::new();
    for _ in 0..repeats {
        let start = std::time::Instant::now();
        let output = std::process::Command::new("nsenter")
            .arg(format!("--net={}", bed.b.path().display()))
            .arg(&release)
            .args(["flows", &bed.b_if, "--top", "10", "--json"])
            .output()?;
        seconds.push(start.elapsed().as_secs_f64());
        anyhow::ensure!(output.status.success(), "policer flows failed: {output:?}");
        let out = String::from_utf8(output.stdout)?;
        let rows: serde_json::Value = serde_json::from_str(&out)?;
        anyhow::ensure!(rows.as_array().map(Vec::len) == Some(10), "flows --top 10 gave {rows}");
    }
    let stats = bed.stats();
    let memory_bytes = stats["memory_bytes"].as_u64().unwrap_or(0);
    let flows = stats["flows_max"].as_u64().unwrap_or(0);
    Ok(TableWalk { flows, max_flows: n, top10_seconds: Spread::of(seconds), memory_bytes })
}

impl TableWalk {
    pub fn markdown(&self) -> String {
        format!(
            "`policer flows IFACE --top 10 --json` over full tables, {} flows (the policer \
             attached with `--max-flows {}`: the power of two at or above in IPv4 slots, and \
             an LRU table of as many): \
             {} s, wall clock, the whole command (median, range). The policer's maps hold {} \
             bytes of kernel memory, {} bytes per flow of capacity.\n",
            self.flows,
            self.max_flows,
            self.top10_seconds.show(3, 1.0),
            self.memory_bytes,
            self.memory_bytes / self.flows.max(1),
        )
    }
}

/// A program's size after the verifier: eBPF instructions and bytes of machine code.
pub struct ProgramSize {
    pub name: &'static str,
    pub instructions: u32,
    pub jited_bytes: u32,
    /// Instructions the verifier walked to accept it (its limit is a million).
    pub verified: u32,
}

fn size_of_program(name: &'static str, info: aya::programs::ProgramInfo) -> ProgramSize {
    // An eBPF instruction is 8 bytes.
    let instructions = info.size_translated().unwrap_or(0) / 8;
    let verified = info.verified_instruction_count().unwrap_or(0);
    ProgramSize { name, instructions, jited_bytes: info.size_jitted(), verified }
}

/// The size of every program the cost rows compare, each loaded afresh.
pub fn sizes() -> anyhow::Result<Vec<ProgramSize>> {
    let mut out = Vec::new();
    for (name, kind) in [("policer (XDP)", ProgramKind::Xdp), ("policer (TC)", ProgramKind::Tc)] {
        let mut loaded = Loaded::load(&profile(), 1024, kind)?;
        let info = match kind {
            ProgramKind::Xdp => loaded.xdp()?.info()?,
            ProgramKind::Tc => loaded.tc()?.info()?,
        };
        out.push(size_of_program(name, info));
    }
    let mut anchors = anchors(1024, 1)?;
    for name in [ANCHOR_NAIVE_XDP, ANCHOR_LOCKED_XDP] {
        let prog: &mut Xdp = anchors.program_mut(name).context(name)?.try_into()?;
        prog.load()?;
        out.push(size_of_program(name, prog.info()?));
    }
    let mut base = Ebpf::load(policer::ebpf_object())?;
    let prog: &mut Xdp = base.program_mut(PROG_XDP_PASS).context(PROG_XDP_PASS)?.try_into()?;
    prog.load()?;
    out.push(size_of_program(PROG_XDP_PASS, prog.info()?));
    Ok(out)
}

/// The sizes as a table.
pub fn sizes_markdown(sizes: &[ProgramSize]) -> String {
    let mut out = "Program sizes after the verifier (`bpftool prog show` reports the same):\n\n\
                   | program | eBPF instructions | machine code, bytes | verifier: instructions \
                   walked (limit 1,000,000) |\n|---|---|---|---|\n"
        .to_string();
    for s in sizes {
        out +=
            &format!("| {} | {} | {} | {} |\n", s.name, s.instructions, s.jited_bytes, s.verified);
    }
    out
}

/// The cost section of the report.
pub fn markdown(args: &CostArgs, rows: &[CostRow]) -> String {
    let mut out = format!(
        "## Per-packet cost\n\n\
         BPF_PROG_TEST_RUN times each program in the kernel; the policer runs its default \
         profile (mode `tcp`, 5-tuple key) at a rate no frame reaches, so every frame takes \
         the common, green path. The anchors are the per-flow token bucket a C author writes \
         first (Ethernet/IPv4/ports, a 16-byte 5-tuple key, `bpf_ktime_get_ns`, refill, \
         compare, one per-CPU counter), built like the policer: *naive* in an LRU hash with \
         no lock (wrong when two CPUs feed one flow), *locked* in a plain hash whose value \
         holds a `bpf_spin_lock` (exact). They parse untagged IPv4 only: '-' elsewhere. The \
         bare program is `XDP_PASS` (TC rows: a TC program returning OK), built the same way. \
         Hot flow: one frame run {} times per measurement. Many flows: every flow first \
         inserted (the insert row), then each frame run once, in turn, so every lookup is for \
         another flow; those runs include the kernel's timer reads (alike in every column). \
         All programs of a row are measured interleaved, medians of {} (min-max). Added = ns \
         over the bare program; the last column is the policer's added cost over the naive \
         anchor's. Anchor: 10 GbE line rate at 64-byte frames is {LINE_RATE_NS} ns per packet \
         on one core.\n\n\
         | case | bare | policer | naive | locked | added: policer | naive | locked | policer / naive |\n\
         |---|---|---|---|---|---|---|---|---|\n",
        args.runs, args.repeats,
    );
    let cell = |s: Option<Spread>| s.map_or("-".to_string(), |s| format!("{:.1}", s.median));
    let added = |s: Option<Spread>, base: f64| {
        s.map_or("-".to_string(), |s| format!("{:.1}", s.median - base))
    };
    for r in rows {
        let base = r.base.median;
        out += &format!(
            "| {} | {:.1} | {} | {} | {} | {:.1} | {} | {} | {} |\n",
            r.case,
            base,
            r.ours.show(1, 1.0),
            cell(r.naive),
            cell(r.locked),
            r.ours.median - base,
            added(r.naive, base),
            added(r.locked, base),
            r.ratio_to_naive().map_or("-".to_string(), |x| format!("{x:.2}")),
        );
    }
    out
}
