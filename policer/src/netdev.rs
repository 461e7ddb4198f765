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
}

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
        Ok(Interface {
            name: name.to_string(),
            index,
            mtu,
        })
    }

    /// The largest frame the interface sends or receives, Ethernet header included.
    pub fn max_frame_bytes(&self) -> u64 {
        self.mtu as u64 + ETH_HEADER_BYTES
    }

    /// The XDP program attached to the interface, if any: `(id, name)`.
    pub fn attached_xdp(&self) -> Result<Option<(u32, String)>> {
        let output = Command::new("ip")
            .args(["-j", "-d", "link", "show", "dev", &self.name])
            .output()
            .context(|| "running `ip link show` (iproute2)".to_string())?;
        if !output.status.success() {
            return Err(Error::UnknownInterface(self.name.clone()));
        }
        let links: serde_json::Value =
            serde_json::from_slice(&output.stdout).map_err(|e| Error::Io {
                context: "reading `ip -j link show`".into(),
                source: e.into(),
            })?;
        let xdp = &links[0]["xdp"];
        // One program: xdp.prog; several (multi-attach): xdp.attached[].prog.
        let prog = if xdp["prog"].is_object() {
            &xdp["prog"]
        } else {
            &xdp["attached"][0]["prog"]
        };
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
