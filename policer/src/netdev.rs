//! What policer needs to know about a network interface.

use std::{
    ffi::{CStr, CString},
    io,
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
    process::Command,
};

use crate::error::{Context as _, Error, Result};

/// Bytes a frame carries beyond the MTU: the Ethernet header.
const ETH_HEADER_BYTES: u64 = 14;

/// An interface that exists.
#[derive(Clone, Debug)]
pub struct Interface {
    pub name: String,
    pub index: u32,
    pub mtu: u32,
    /// Largest GSO packet the stack hands the interface (egress), bytes.
    pub gso_max_size: u32,
    /// Largest GRO packet the interface hands the stack (ingress), bytes.
    pub gro_max_size: u32,
}

/// What `ip` reports when it cannot say: Linux's historic 64 KiB limit.
const DEFAULT_GSO_MAX_SIZE: u32 = 65_536;
/// Headers a segment of a GSO packet may repeat: Ethernet, IPv6, TCP with options.
const SEGMENT_HEADERS: u32 = 14 + 40 + 60;

impl Interface {
    /// Looks the interface up by name.
    pub fn find(name: &str) -> Result<Interface> {
        if name.is_empty()
            || name.len() > 15
            || name.contains(['/', '\0'])
            || name == "."
            || name == ".."
        {
            return Err(Error::BadInterfaceName(name.to_string()));
        }
        let c_name = CString::new(name).map_err(|_| Error::BadInterfaceName(name.into()))?;
        // SAFETY: a NUL-terminated string that outlives the call.
        let index = unsafe { libc::if_nametoindex(c_name.as_ptr()) };
        if index == 0 {
            return Err(Error::UnknownInterface(name.to_string()));
        }
        let mtu = read_mtu(&c_name).context(|| format!("reading the MTU of {name}"))?;
        let details = ip_link_details(name).unwrap_or_default();
        let size = |field: &str| details[field].as_u64().map_or(DEFAULT_GSO_MAX_SIZE, |v| v as u32);
        Ok(Interface {
            name: name.to_string(),
            index,
            mtu,
            gso_max_size: size("gso_max_size"),
            gro_max_size: size("gro_max_size"),
        })
    }

    /// The largest frame the interface sends or receives, Ethernet header included.
    pub fn max_frame_bytes(&self) -> u64 {
        self.mtu as u64 + ETH_HEADER_BYTES
    }

    /// The largest packet a TC program on this interface sees in `direction`, charged as
    /// on the wire: a GSO (egress) or GRO (ingress) packet of the largest size, with the
    /// headers of each of its segments. Bursts must hold one, or TCP with TSO/GRO starves.
    pub fn max_tc_packet_bytes(&self, egress: bool) -> u64 {
        let size = if egress { self.gso_max_size } else { self.gro_max_size };
        let payload_per_segment = self.mtu.saturating_sub(40).max(1);
        let segments = size.div_ceil(payload_per_segment);
        let wire = size as u64 + segments.saturating_sub(1) as u64 * SEGMENT_HEADERS as u64;
        wire.max(self.max_frame_bytes())
    }

    /// The XDP program attached to the interface, if any: `(id, name)`.
    pub fn attached_xdp(&self) -> Result<Option<(u32, String)>> {
        let details = ip_link_details(&self.name)?;
        let xdp = &details["xdp"];
        // One program: xdp.prog; several (multi-attach): xdp.attached[].prog.
        let prog = if xdp["prog"].is_object() { &xdp["prog"] } else { &xdp["attached"][0]["prog"] };
        Ok(prog["id"].as_u64().map(|id| {
            let name = prog["name"].as_str().unwrap_or_default().to_string();
            (id as u32, name)
        }))
    }
}

/// The MTU by ioctl(SIOCGIFMTU), which, unlike /sys/class/net, sees the interfaces of the
/// network namespace the process is in.
fn read_mtu(name: &CStr) -> io::Result<u32> {
    // SAFETY: plain socket(2); the descriptor is owned right away.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ifreq is plain old data; zero is a valid value for every field.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, &src) in request.ifr_name.iter_mut().zip(name.to_bytes()) {
        *dst = src as libc::c_char;
    }
    // SAFETY: SIOCGIFMTU reads ifr_name (NUL-terminated: the name is at most 15 bytes and
    // the rest is zero) and writes ifr_ifru.ifru_mtu.
    if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFMTU, &mut request) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the union member SIOCGIFMTU writes.
    Ok(unsafe { request.ifr_ifru.ifru_mtu } as u32)
}

/// `ip -j -d link show dev NAME`, the interface's object.
fn ip_link_details(name: &str) -> Result<serde_json::Value> {
    let output = Command::new("ip")
        .args(["-j", "-d", "link", "show", "dev", name])
        .output()
        .context(|| "running `ip link show` (iproute2)".to_string())?;
    if !output.status.success() {
        return Err(Error::UnknownInterface(name.to_string()));
    }
    let mut links: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| Error::Io { context: "reading `ip -j link show`".into(), source: e.into() })?;
    Ok(links[0].take())
}
