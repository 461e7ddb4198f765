//! A tap on the receiver's interface that reads the TCP data that got through, to count
//! what the receiver can tell and the counters cannot: runs of consecutive losses (a plain
//! bucket drops in runs, a TCP-friendly policer singly) and goodput per second.
//!
//! An AF_PACKET socket sees a frame after XDP but before tc and nftables ingress, so it
//! counts what passed only when every policer in the test sits before it: XDP on this
//! interface, a qdisc on the sender, or nftables on the egress of the link into it.

use std::{
    collections::HashMap,
    io,
    os::fd::{AsRawFd as _, OwnedFd},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::{self, JoinHandle},
    time::Instant,
};

use crate::{
    Netns,
    delay::{
        POLL, bound_socket, packet_drops, set_ignore_outgoing, set_receive_timeout, setsockopt,
    },
};

/// A flow as the receiver sees it: source address and port, destination address and port.
pub type FlowKey = ([u8; 4], u16, [u8; 4], u16);

/// What arrived of one TCP flow's data.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FlowTally {
    /// Bytes of sequence space covered for the first time (goodput).
    pub new_bytes: u64,
    /// Holes opened: each is one run of consecutive segments that did not arrive.
    pub loss_runs: u64,
    /// Segments missing from those holes, at the largest segment size seen.
    pub lost_segments: u64,
    /// Segments at or below what had already arrived: retransmissions filling holes.
    pub fills: u64,
    /// Highest sequence number seen, plus one (where the next new byte starts).
    next: Option<u32>,
    largest_segment: u32,
}

impl FlowTally {
    /// Takes one data segment: `seq` and `len` bytes of payload.
    pub fn segment(&mut self, seq: u32, len: u32) -> u64 {
        self.largest_segment = self.largest_segment.max(len);
        let end = seq.wrapping_add(len);
        let Some(next) = self.next else {
            self.next = Some(end);
            self.new_bytes += u64::from(len);
            return u64::from(len);
        };
        // Sequence numbers wrap: compare by signed distance, as TCP does.
        let gap = seq.wrapping_sub(next) as i32;
        if gap > 0 {
            self.loss_runs += 1;
            self.lost_segments += u64::from((gap as u32).div_ceil(self.largest_segment.max(1)));
        } else if gap < 0 {
            self.fills += 1;
        }
        let advance = end.wrapping_sub(next) as i32;
        if advance <= 0 {
            return 0;
        }
        self.next = Some(end);
        self.new_bytes += advance as u64;
        advance as u64
    }
}

/// What a tap saw, when it stopped.
#[derive(Debug, Default)]
pub struct TapReport {
    pub flows: HashMap<FlowKey, FlowTally>,
    /// New bytes of all flows per second since the tap started.
    pub bytes_per_second: Vec<u64>,
    /// Frames the kernel could not queue to the tap (its buffer full): a tap that missed
    /// frames would see holes that are not losses.
    pub missed: u64,
}

impl TapReport {
    pub fn loss_runs(&self) -> u64 {
        self.flows.values().map(|f| f.loss_runs).sum()
    }

    pub fn lost_segments(&self) -> u64 {
        self.flows.values().map(|f| f.lost_segments).sum()
    }
}

/// A running tap; `finish` stops it and returns what it saw.
pub struct Tap {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<TapReport>,
}

impl Tap {
    /// Starts reading frames that arrive on `iface` in `ns`.
    pub fn start(ns: &Netns, iface: &str) -> io::Result<Tap> {
        let socket = ns.enter(|| bound_socket(iface))?;
        set_ignore_outgoing(&socket)?;
        set_receive_timeout(&socket, POLL)?;
        // Room for a second of 100 Mbit/s, so a busy machine does not make false holes.
        setsockopt(&socket, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &(16 << 20))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop_reader = stop.clone();
        let thread = thread::spawn(move || read(&socket, &stop_reader));
        Ok(Tap { stop, thread })
    }

    pub fn finish(self) -> TapReport {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the tap thread does not panic")
    }
}

fn read(socket: &OwnedFd, stop: &AtomicBool) -> TapReport {
    let start = Instant::now();
    let mut report = TapReport::default();
    let mut buf = vec![0u8; 65_536];
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: recv into a buffer we own, of the length given.
        let n = unsafe { libc::recv(socket.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        let Ok(n) = usize::try_from(n) else { continue };
        let Some((key, seq, len)) = tcp_data(&buf[..n]) else { continue };
        let new = report.flows.entry(key).or_default().segment(seq, len);
        let second = start.elapsed().as_secs() as usize;
        if report.bytes_per_second.len() <= second {
            report.bytes_per_second.resize(second + 1, 0);
        }
        report.bytes_per_second[second] += new;
    }
    report.missed = packet_drops(socket).unwrap_or(u64::MAX);
    report
}

/// The flow, sequence number and payload length of an Ethernet + IPv4 + TCP frame with
/// data; `None` for anything else.
pub fn tcp_data(frame: &[u8]) -> Option<(FlowKey, u32, u32)> {
    let be16 = |at: usize| Some(u16::from_be_bytes(frame.get(at..at + 2)?.try_into().ok()?));
    if be16(12)? != 0x0800 || *frame.get(23)? != 6 {
        return None;
    }
    let ip = 14;
    let ihl = usize::from(frame[ip] & 0x0f) * 4;
    let total = usize::from(be16(ip + 2)?);
    let tcp = ip + ihl;
    let offset = usize::from(*frame.get(tcp + 12)? >> 4) * 4;
    let len = total.checked_sub(ihl + offset).filter(|&l| l > 0)?;
    let addr = |at: usize| -> Option<[u8; 4]> { frame.get(at..at + 4)?.try_into().ok() };
    let seq = u32::from_be_bytes(frame.get(tcp + 4..tcp + 8)?.try_into().ok()?);
    let key = (addr(ip + 12)?, be16(tcp)?, addr(ip + 16)?, be16(tcp + 2)?);
    Some((key, seq, len as u32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames::Packet;

    #[test]
    fn a_run_of_three_lost_segments_is_one_hole() {
        let mut flow = FlowTally::default();
        for seq in [0u32, 1000, 5000, 6000, 2000, 3000, 4000] {
            flow.segment(seq.wrapping_add(u32::MAX - 2500), 1000);
        }
        assert_eq!(flow.loss_runs, 1);
        assert_eq!(flow.lost_segments, 3);
        assert_eq!(flow.fills, 3);
        assert_eq!(flow.new_bytes, 7000);
    }

    #[test]
    fn single_losses_are_runs_of_one() {
        let mut flow = FlowTally::default();
        for seq in [0u32, 2000, 4000, 1000, 3000] {
            flow.segment(seq, 1000);
        }
        assert_eq!((flow.loss_runs, flow.lost_segments), (2, 2));
    }

    #[test]
    fn data_frames_are_read_and_others_are_not() {
        let frame = Packet::tcp("10.0.0.1", "10.0.0.2", 40_000, 5201).frame(1514);
        let (key, seq, len) = tcp_data(&frame).expect("a TCP data frame");
        assert_eq!(key, ([10, 0, 0, 1], 40_000, [10, 0, 0, 2], 5201));
        assert_eq!((seq, len), (0, 1460));
        assert_eq!(tcp_data(&Packet::tcp("10.0.0.1", "10.0.0.2", 1, 2).frame(54)), None);
        assert_eq!(tcp_data(&Packet::udp("10.0.0.1", "10.0.0.2", 1, 2).frame(100)), None);
        assert_eq!(tcp_data(&frame[..30]), None);
    }
}
