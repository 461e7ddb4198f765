//! A delay line: between two veth ends in a namespace of its own, every frame is held for a
//! fixed time, then sent on, both ways. The kernel here has no netem; this gives the tests
//! and benchmarks a real round-trip time. Frames are read and written with AF_PACKET
//! sockets; with GRO, TSO, GSO and checksum offload off on the path they stay MTU-sized and
//! complete. A sender with TSO on hands the line whole GSO packets: the sockets carry the
//! kernel's virtio-net header, so the line sends such a packet on as one GSO packet, and the
//! kernel cuts it into frames (and fills in checksums) on the far side, as a NIC would.

use std::{
    ffi::CString,
    io,
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc,
    },
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use crate::Netns;

/// A running delay line; stops (and joins its threads) on drop.
pub struct DelayLine {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// The receiving sockets again, to ask the kernel what they could not queue.
    receivers: Vec<OwnedFd>,
    missed: AtomicU64,
}

/// How long a blocked receive waits before it looks at the stop flag again.
pub(crate) const POLL: Duration = Duration::from_millis(50);
/// `PACKET_IGNORE_OUTGOING` (linux/if_packet.h): do not read what this host sends.
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
/// `PACKET_VNET_HDR` (linux/if_packet.h): every frame read or written starts with a
/// `struct virtio_net_hdr` (10 bytes) saying how it is segmented and checksummed.
const PACKET_VNET_HDR: libc::c_int = 15;
/// `VIRTIO_NET_HDR_F_NEEDS_CSUM` (linux/virtio_net.h): the checksum is left to fill in. The
/// other flags (checksum already valid) mean nothing to a sender.
const VNET_NEEDS_CSUM: u8 = 1;
/// The largest frame read: a whole GSO packet (64 KiB, or more with BIG TCP) and its header.
const FRAME_BUFFER: usize = 256 << 10;

impl DelayLine {
    /// Forwards frames between `left` and `right` (interfaces of `ns`), each held `delay`.
    pub fn start(ns: &Netns, left: &str, right: &str, delay: Duration) -> io::Result<DelayLine> {
        let stop = Arc::new(AtomicBool::new(false));
        let (mut threads, mut receivers) = (Vec::new(), Vec::new());
        for (from, to) in [(left, right), (right, left)] {
            let (rx, tx) =
                ns.enter(|| Ok::<_, io::Error>((bound_socket(from)?, bound_socket(to)?)))?;
            set_ignore_outgoing(&rx)?;
            set_receive_timeout(&rx, POLL)?;
            const ON: libc::c_int = 1;
            for socket in [&rx, &tx] {
                setsockopt(socket, libc::SOL_PACKET, PACKET_VNET_HDR, &ON)?;
            }
            // Room for a second of 100 Mbit/s: a line that drops is a bottleneck of its own.
            setsockopt(&rx, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &(16 << 20))?;
            receivers.push(rx.try_clone()?);
            let (queue_in, queue_out) = mpsc::channel::<(Instant, Vec<u8>)>();
            let stop_rx = stop.clone();
            threads.push(thread::spawn(move || receive(rx, queue_in, delay, &stop_rx)));
            threads.push(thread::spawn(move || send(tx, queue_out)));
        }
        Ok(DelayLine { stop, threads, receivers, missed: AtomicU64::new(0) })
    }

    /// Frames the line could not take in (its receive buffers full) since it started.
    pub fn missed(&self) -> io::Result<u64> {
        for socket in &self.receivers {
            self.missed.fetch_add(packet_drops(socket)?, Ordering::Relaxed);
        }
        Ok(self.missed.load(Ordering::Relaxed))
    }
}

/// `PACKET_STATISTICS` (linux/if_packet.h): frames queued and dropped since last asked.
const PACKET_STATISTICS: libc::c_int = 6;

/// Frames the kernel dropped for want of room on an AF_PACKET socket since the last call.
pub(crate) fn packet_drops(socket: &OwnedFd) -> io::Result<u64> {
    let mut stats = [0u32; 2];
    let mut len = size_of_val(&stats) as libc::socklen_t;
    // SAFETY: tpacket_stats is two u32s; the kernel writes at most `len` bytes.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_PACKET,
            PACKET_STATISTICS,
            stats.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc != 0 { Err(io::Error::last_os_error()) } else { Ok(u64::from(stats[1])) }
}

impl Drop for DelayLine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn receive(
    socket: OwnedFd,
    queue: mpsc::Sender<(Instant, Vec<u8>)>,
    delay: Duration,
    stop: &AtomicBool,
) {
    let mut buf = vec![0u8; FRAME_BUFFER];
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: recv into a buffer we own, of the length given.
        let n = unsafe { libc::recv(socket.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n > 0 {
            // The header's first byte is its flags: keep only what a sender acts on.
            buf[0] &= VNET_NEEDS_CSUM;
            let due = Instant::now() + delay;
            if queue.send((due, buf[..n as usize].to_vec())).is_err() {
                return;
            }
        }
    }
    // Dropping `queue` ends the sender.
}

fn send(socket: OwnedFd, queue: mpsc::Receiver<(Instant, Vec<u8>)>) {
    // Frames come in arrival order, and every one waits the same time: FIFO is exact.
    while let Ok((due, frame)) = queue.recv() {
        let now = Instant::now();
        if due > now {
            thread::sleep(due - now);
        }
        // SAFETY: send of a buffer we own, of its length; the socket is bound to the output
        // interface, so no address is needed.
        unsafe { libc::send(socket.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
    }
}

/// An AF_PACKET socket for every protocol, bound to `iface` (in the calling thread's netns).
pub(crate) fn bound_socket(iface: &str) -> io::Result<OwnedFd> {
    let all = (libc::ETH_P_ALL as u16).to_be() as libc::c_int;
    // SAFETY: plain socket(2); the descriptor is owned right away.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, all) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor nothing else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    let name = CString::new(iface)?;
    // SAFETY: a NUL-terminated name that outlives the call.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: sockaddr_ll is plain old data; zero is valid for every field.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
    addr.sll_ifindex = index as i32;
    // SAFETY: bind with a properly sized sockaddr_ll.
    let rc = unsafe {
        libc::bind(
            socket.as_raw_fd(),
            (&raw const addr).cast(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(socket)
}

pub(crate) fn set_ignore_outgoing(socket: &OwnedFd) -> io::Result<()> {
    let on: libc::c_int = 1;
    setsockopt(socket, libc::SOL_PACKET, PACKET_IGNORE_OUTGOING, &on)
}

pub(crate) fn set_receive_timeout(socket: &OwnedFd, timeout: Duration) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_usec: timeout.subsec_micros() as libc::suseconds_t,
    };
    setsockopt(socket, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv)
}

pub(crate) fn setsockopt<T>(
    socket: &OwnedFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: the option value is a live `T` of the size given.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if rc != 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}
