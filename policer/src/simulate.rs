//! What-if replay: a capture or a trace run through the very meter the kernel runs
//! (`policer_common::police`), keyed by the very parser it uses (`policer_common::parse`),
//! offline and without privileges.

use std::{
    collections::HashMap,
    fmt,
    fs::File,
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
};

use crate::plans::Prefix;
use pcap_file::{
    DataLink, PcapError, TsResolution,
    pcap::PcapReader,
    pcapng::{
        Block, PcapNgReader,
        blocks::interface_description::{InterfaceDescriptionBlock, InterfaceDescriptionOption},
    },
};
use policer_common::{
    Colour, Counter, FlowKey, FlowState, NANOS_PER_SEC, Profile, action, meter,
    parse::{self, Parsed},
    rewrite,
};

/// A bucket in a replay: a trace's label, or a capture's flow key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FlowId {
    Label(String),
    Key(FlowKey),
}

impl fmt::Display for FlowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlowId::Label(label) => f.write_str(label),
            FlowId::Key(key) => f.write_str(&crate::keys::describe(key)),
        }
    }
}

/// One packet of the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub time_ns: u64,
    /// Whole frame length (a capture's original length, not what was captured).
    pub len: u32,
    pub what: Frame,
    /// The ECN field of a captured IP packet (`None` for a trace, taken as ECN-capable).
    pub ecn: Option<u8>,
    /// A captured TCP segment's sequence number (0 for anything else, and in a trace): the
    /// meter waits for the resend of a segment it dropped, as in the kernel.
    pub tcp_seq: u32,
}

/// What a record is to the policer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    Flow(FlowId),
    /// Passed unpoliced, as the kernel program does.
    Unparsed,
    NonIp,
}

/// What happened to one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Coloured(Colour),
    Unparsed,
    NonIp,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Coloured(colour) => colour.name(),
            Outcome::Unparsed => "unparsed",
            Outcome::NonIp => "non-ip",
        }
    }
}

/// Packets and bytes per colour and per outcome of the colour's action.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub colours: [Counter; 3],
    pub passed: Counter,
    pub marked: Counter,
    pub dropped: Counter,
}

impl Tally {
    fn add(&mut self, colour: Colour, outcome: rewrite::Outcome, len: u32) {
        bump(&mut self.colours[colour as usize], len);
        bump(
            match outcome {
                rewrite::Outcome::Passed => &mut self.passed,
                rewrite::Outcome::Marked => &mut self.marked,
                rewrite::Outcome::Dropped => &mut self.dropped,
            },
            len,
        );
    }

    pub fn colour(&self, colour: Colour) -> Counter {
        self.colours[colour as usize]
    }

    /// Packets the meter saw.
    pub fn packets(&self) -> u64 {
        self.colours.iter().map(|c| c.packets).sum()
    }

    /// Bytes delivered: passed, marked or not.
    pub fn delivered_bytes(&self) -> u64 {
        self.passed.bytes + self.marked.bytes
    }

    /// Bytes offered.
    pub fn offered_bytes(&self) -> u64 {
        self.delivered_bytes() + self.dropped.bytes
    }
}

/// What an action does to a packet whose ECN field is `ecn` (`None`: unknown, taken as
/// ECN-capable), as the kernel's `rewrite::apply` would.
pub fn outcome_of(action: u8, ecn: Option<u8>) -> rewrite::Outcome {
    match action {
        action::PASS => rewrite::Outcome::Passed,
        action::DROP => rewrite::Outcome::Dropped,
        action::ECN if ecn == Some(0) => rewrite::Outcome::Dropped,
        _ => rewrite::Outcome::Marked,
    }
}

fn bump(counter: &mut Counter, len: u32) {
    counter.packets += 1;
    counter.bytes += len as u64;
}

/// One bucket's state and what it carried.
#[derive(Clone, Copy, Debug)]
pub struct FlowReport {
    pub state: FlowState,
    pub tally: Tally,
    pub first_ns: u64,
    pub last_ns: u64,
}

/// The meter over a sequence of packets, one bucket per flow, as the kernel keeps them
/// (without the kernel's flow-table limit: no flow is ever evicted here).
pub struct Replay {
    profile: Profile,
    /// Plans, longest prefix first, each with its tally; a flow's key carries the index of
    /// its plan in this list plus one (0: the default profile), as in the kernel.
    plans: Vec<(Prefix, Profile, Tally)>,
    plan_match: u8,
    flows: HashMap<FlowId, FlowReport>,
    pub tally: Tally,
    pub unparsed: Counter,
    pub non_ip: Counter,
    pub first_ns: Option<u64>,
    pub last_ns: u64,
}

impl Replay {
    pub fn new(profile: Profile) -> Replay {
        Replay {
            profile,
            plans: Vec::new(),
            plan_match: policer_common::plan_match::SRC,
            flows: HashMap::new(),
            tally: Tally::default(),
            unparsed: Counter::default(),
            non_ip: Counter::default(),
            first_ns: None,
            last_ns: 0,
        }
    }

    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The replay with plans: a captured packet takes the profile of the longest prefix
    /// that matches its source (`plan_match::DST`: destination) address, as in the kernel.
    /// The capture must be keyed by 5-tuple (the plan's key mode is applied here).
    pub fn with_plans(mut self, plans: &[(Prefix, Profile)], plan_match: u8) -> Replay {
        let mut plans: Vec<_> =
            plans.iter().map(|&(p, profile)| (p, profile, Tally::default())).collect();
        plans.sort_by_key(|(p, _, _)| std::cmp::Reverse(p.prefix_len()));
        self.plans = plans;
        self.plan_match = plan_match;
        self
    }

    /// Each plan's prefix, profile and tally, in the order given (longest prefix first).
    pub fn plans(&self) -> impl Iterator<Item = (&Prefix, &Profile, &Tally)> {
        self.plans.iter().map(|(p, profile, tally)| (p, profile, tally))
    }

    /// The profile a flow is policed with (its plan's, or the default).
    pub fn profile_for(&self, id: &FlowId) -> &Profile {
        match id {
            FlowId::Key(key) if key.profile != 0 => &self.plans[key.profile as usize - 1].1,
            _ => &self.profile,
        }
    }

    /// The plan index (1-based; 0 the default) of a full key.
    fn plan_of(&self, key: &FlowKey) -> usize {
        let bytes =
            if self.plan_match == policer_common::plan_match::DST { &key.dst } else { &key.src };
        let Some(addr) = crate::keys::address(key, bytes) else { return 0 };
        self.plans.iter().position(|(p, _, _)| p.contains(addr)).map_or(0, |i| i + 1)
    }

    /// Runs one packet; returns what happened to it.
    pub fn packet(&mut self, record: &Record) -> Outcome {
        let &Record { time_ns, len, ref what, .. } = record;
        self.first_ns.get_or_insert(time_ns);
        self.last_ns = self.last_ns.max(time_ns);
        let id = match what {
            Frame::Flow(id) => id,
            Frame::Unparsed => {
                bump(&mut self.unparsed, len);
                return Outcome::Unparsed;
            }
            Frame::NonIp => {
                bump(&mut self.non_ip, len);
                return Outcome::NonIp;
            }
        };
        let planned;
        let (id, plan) = match id {
            FlowId::Key(key) if !self.plans.is_empty() => {
                let plan = self.plan_of(key);
                let mode =
                    if plan == 0 { self.profile.key_mode } else { self.plans[plan - 1].1.key_mode };
                planned = FlowId::Key(FlowKey { profile: plan as u16, ..key.for_mode(mode) });
                (&planned, plan)
            }
            _ => (id, 0),
        };
        let profile = if plan == 0 { &self.profile } else { &self.plans[plan - 1].1 };
        // Look up before inserting: the id is cloned only for a new flow.
        if !self.flows.contains_key(id) {
            let flow = FlowReport {
                state: meter::new_flow(profile, time_ns),
                tally: Tally::default(),
                first_ns: time_ns,
                last_ns: time_ns,
            };
            self.flows.insert(id.clone(), flow);
        }
        let flow = self.flows.get_mut(id).expect("inserted above");
        // An unknown ECN field (a trace without one) is taken as ECN-capable, as below.
        let ect = record.ecn != Some(0);
        let (colour, act) =
            meter::police_and_act(profile, &mut flow.state, len, time_ns, ect, record.tcp_seq);
        let outcome = outcome_of(act, record.ecn);
        flow.tally.add(colour, outcome, len);
        flow.last_ns = time_ns;
        self.tally.add(colour, outcome, len);
        if plan != 0 {
            self.plans[plan - 1].2.add(colour, outcome, len);
        }
        Outcome::Coloured(colour)
    }

    /// One flow's bucket and tally.
    pub fn flow(&self, id: &FlowId) -> Option<&FlowReport> {
        self.flows.get(id)
    }

    /// Flows, heaviest (most bytes) first.
    pub fn flows(&self) -> Vec<(&FlowId, &FlowReport)> {
        let mut flows: Vec<_> = self.flows.iter().collect();
        flows.sort_by(|a, b| {
            let bytes = |f: &FlowReport| f.tally.offered_bytes();
            bytes(b.1).cmp(&bytes(a.1)).then_with(|| a.0.cmp(b.0))
        });
        flows
    }

    /// Nanoseconds from the first packet to the last.
    pub fn span_ns(&self) -> u64 {
        self.first_ns.map_or(0, |first| self.last_ns - first)
    }
}

/// A rate in bit/s of `bytes` over `ns` (0 for an empty span).
pub fn rate_bps(bytes: u64, ns: u64) -> f64 {
    if ns == 0 { 0.0 } else { bytes as f64 * 8.0 * NANOS_PER_SEC as f64 / ns as f64 }
}

/// Why an input could not be replayed (or not to its end).
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read {}", path.display())]
    Open { path: PathBuf, source: std::io::Error },
    #[error("{} is not a pcap or pcapng capture ({reason})", path.display())]
    NotACapture { path: PathBuf, reason: String },
    #[error("{}: link type {link:?} is not Ethernet; policer replays Ethernet captures only", path.display())]
    NotEthernet { path: PathBuf, link: DataLink },
    #[error("{} is truncated: it stops inside packet {packet} ({reason})", path.display())]
    Truncated { path: PathBuf, packet: u64, reason: String },
    #[error("{}: {reason}", path.display())]
    BadCapture { path: PathBuf, reason: String },
    #[error("{}, line {line}: {reason}", path.display())]
    BadTrace { path: PathBuf, line: u64, reason: String },
}

/// Reads a trace: a CSV file with the header `time_ns,len,flow`.
pub struct TraceReader {
    path: PathBuf,
    lines: std::io::Lines<BufReader<File>>,
    line: u64,
    last_ns: u64,
}

pub const TRACE_HEADER: &str = "time_ns,len,flow";

impl TraceReader {
    pub fn open(path: &Path) -> Result<TraceReader, InputError> {
        let file = File::open(path)
            .map_err(|source| InputError::Open { path: path.to_path_buf(), source })?;
        let mut reader = TraceReader {
            path: path.to_path_buf(),
            lines: BufReader::new(file).lines(),
            line: 0,
            last_ns: 0,
        };
        match reader.next_line()? {
            Some(header) if header.trim() == TRACE_HEADER => Ok(reader),
            Some(header) => Err(reader
                .bad(format!("the header must be {TRACE_HEADER:?}, found {:?}", header.trim()))),
            None => Err(reader.bad(format!("empty file: expected the header {TRACE_HEADER:?}"))),
        }
    }

    fn next_line(&mut self) -> Result<Option<String>, InputError> {
        self.line += 1;
        match self.lines.next() {
            None => Ok(None),
            Some(Ok(line)) => Ok(Some(line)),
            Some(Err(e)) => Err(self.bad(format!("cannot read: {e}"))),
        }
    }

    fn bad(&self, reason: String) -> InputError {
        InputError::BadTrace { path: self.path.clone(), line: self.line, reason }
    }

    fn record(&mut self, line: &str) -> Result<Record, InputError> {
        let fields: Vec<&str> = line.split(',').collect();
        let [time, len, flow] = fields[..] else {
            return Err(self.bad(format!(
                "expected 3 fields (time_ns,len,flow; a flow label has no commas), found {}",
                fields.len()
            )));
        };
        let time_ns: u64 = time
            .trim()
            .parse()
            .map_err(|_| self.bad(format!("time_ns {time:?} is not a whole number of ns")))?;
        let len: u32 =
            len.trim().parse().ok().filter(|&len| len > 0).ok_or_else(|| {
                self.bad(format!("len {len:?} is not a length from 1 to 4294967295"))
            })?;
        if time_ns < self.last_ns {
            return Err(
                self.bad(format!("time goes backwards: {time_ns} ns after {} ns", self.last_ns))
            );
        }
        self.last_ns = time_ns;
        Ok(Record {
            time_ns,
            len,
            what: Frame::Flow(FlowId::Label(flow.trim().to_string())),
            ecn: None,
            tcp_seq: 0,
        })
    }
}

impl Iterator for TraceReader {
    type Item = Result<Record, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let line = match self.next_line() {
                Ok(Some(line)) => line,
                Ok(None) => return None,
                Err(e) => return Some(Err(e)),
            };
            if !line.trim().is_empty() {
                return Some(self.record(&line));
            }
        }
    }
}

/// Reads an Ethernet capture (pcap or pcapng) and keys each frame as the kernel would.
pub struct CaptureReader {
    path: PathBuf,
    format: CaptureFormat,
    key_mode: u8,
    packets: u64,
    failed: bool,
}

enum CaptureFormat {
    Pcap(PcapReader<BufReader<File>>),
    PcapNg {
        reader: PcapNgReader<BufReader<File>>,
        /// Nanoseconds per timestamp unit of each interface, as (numerator, denominator).
        units: Vec<(u64, u64)>,
    },
}

const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

impl CaptureReader {
    /// Opens `path`; frames are keyed with the profile's `key_mode`.
    pub fn open(path: &Path, key_mode: u8) -> Result<CaptureReader, InputError> {
        let open = || {
            File::open(path).map_err(|source| InputError::Open { path: path.to_path_buf(), source })
        };
        let mut magic = [0u8; 4];
        let is_pcapng = open()?.read_exact(&mut magic).is_ok() && magic == PCAPNG_MAGIC;
        let not_capture = |e: PcapError| InputError::NotACapture {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let format = if is_pcapng {
            let reader = PcapNgReader::new(BufReader::new(open()?)).map_err(not_capture)?;
            CaptureFormat::PcapNg { reader, units: Vec::new() }
        } else {
            let reader = PcapReader::new(BufReader::new(open()?)).map_err(not_capture)?;
            let link = reader.header().datalink;
            if link != DataLink::ETHERNET {
                return Err(InputError::NotEthernet { path: path.to_path_buf(), link });
            }
            CaptureFormat::Pcap(reader)
        };
        Ok(CaptureReader { path: path.to_path_buf(), format, key_mode, packets: 0, failed: false })
    }

    /// Packets read so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    fn error(&mut self, e: PcapError) -> InputError {
        self.failed = true;
        let path = self.path.clone();
        let truncated = match &e {
            PcapError::IncompleteBuffer => true,
            PcapError::IoError(io) => io.kind() == std::io::ErrorKind::UnexpectedEof,
            _ => false,
        };
        match e {
            _ if truncated => InputError::Truncated {
                path,
                packet: self.packets + 1,
                reason: "the file ends before the packet does".into(),
            },
            other => InputError::BadCapture {
                path,
                reason: format!("packet {}: {other}", self.packets + 1),
            },
        }
    }

    fn next_pcapng(&mut self) -> Option<Result<Record, InputError>> {
        loop {
            let CaptureFormat::PcapNg { reader, units } = &mut self.format else {
                unreachable!("called for pcapng only");
            };
            let block = match reader.next_block()? {
                Ok(block) => block,
                Err(e) => return Some(Err(self.error(e))),
            };
            match block {
                Block::InterfaceDescription(interface) => {
                    if interface.linktype != DataLink::ETHERNET {
                        self.failed = true;
                        let link = interface.linktype;
                        return Some(Err(InputError::NotEthernet {
                            path: self.path.clone(),
                            link,
                        }));
                    }
                    units.push(timestamp_unit(&interface));
                }
                Block::EnhancedPacket(packet) => {
                    let Some(&(num, den)) = units.get(packet.interface_id as usize) else {
                        self.failed = true;
                        let reason =
                            format!("packet on undeclared interface {}", packet.interface_id);
                        return Some(Err(InputError::BadCapture {
                            path: self.path.clone(),
                            reason,
                        }));
                    };
                    // pcap-file reports the raw timestamp units as nanoseconds.
                    let units = packet.timestamp.as_nanos();
                    let time_ns =
                        u64::try_from(units * num as u128 / den as u128).unwrap_or(u64::MAX);
                    let record = record(self.key_mode, time_ns, packet.original_len, &packet.data);
                    self.packets += 1;
                    return Some(Ok(record));
                }
                Block::SimplePacket(_) | Block::Packet(_) => {
                    self.failed = true;
                    let reason =
                        "simple or obsolete packet blocks carry no usable timestamp".into();
                    return Some(Err(InputError::BadCapture { path: self.path.clone(), reason }));
                }
                _ => {}
            }
        }
    }
}

/// A captured frame as the kernel program would see it: parsed and keyed by the same code.
fn record(key_mode: u8, time_ns: u64, original_len: u32, data: &[u8]) -> Record {
    let (parsed, layout) = parse::parse_with_layout(data);
    let (what, ecn) = match parsed {
        Parsed::Flow(key) => (
            Frame::Flow(FlowId::Key(key.for_mode(key_mode))),
            rewrite::ecn(data, layout.l3_offset as usize, key.family),
        ),
        Parsed::NonIp => (Frame::NonIp, None),
        Parsed::Malformed => (Frame::Unparsed, None),
    };
    let len = original_len.max(data.len() as u32);
    Record { time_ns, len, what, ecn, tcp_seq: layout.tcp_seq }
}

/// Nanoseconds per timestamp unit of a pcapng interface (if_tsresol; default microseconds).
fn timestamp_unit(interface: &InterfaceDescriptionBlock) -> (u64, u64) {
    let resolution = interface
        .options
        .iter()
        .find_map(|o| match o {
            InterfaceDescriptionOption::IfTsResol(r) => Some(*r),
            _ => None,
        })
        .unwrap_or(6);
    let exponent = (resolution & 0x7f) as u32;
    if resolution & 0x80 != 0 {
        // Negative powers of two.
        (NANOS_PER_SEC, 1u64.checked_shl(exponent).unwrap_or(u64::MAX))
    } else if exponent <= 9 {
        (10u64.pow(9 - exponent), 1)
    } else {
        (1, 10u64.saturating_pow(exponent - 9))
    }
}

impl Iterator for CaptureReader {
    type Item = Result<Record, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match &mut self.format {
            // Raw packets: pcap-file 2.0 refuses a packet whose original length exceeds the
            // snap length, which is every cut packet of `tcpdump -s 96`.
            CaptureFormat::Pcap(reader) => {
                let resolution = reader.header().ts_resolution;
                match reader.next_raw_packet()? {
                    Ok(packet) => {
                        let frac_ns = match resolution {
                            TsResolution::MicroSecond => packet.ts_frac as u64 * 1000,
                            TsResolution::NanoSecond => packet.ts_frac as u64,
                        };
                        let time_ns = packet.ts_sec as u64 * NANOS_PER_SEC + frac_ns;
                        let record = record(self.key_mode, time_ns, packet.orig_len, &packet.data);
                        self.packets += 1;
                        Some(Ok(record))
                    }
                    Err(e) => Some(Err(self.error(e))),
                }
            }
            CaptureFormat::PcapNg { .. } => self.next_pcapng(),
        }
    }
}
