//! The two rtnetlink requests about clsact qdiscs that aya 0.14 does not offer: whether one
//! still carries filters, and deleting it. Needed on kernels without TCX (before 6.6), where
//! a TC policer is a cls_bpf filter on a clsact qdisc, and `detach` removes the qdisc too
//! when the policer added it and nothing else uses it.

use std::{io, mem::size_of};

use crate::error::{Context as _, Result};

/// `TC_H_CLSACT`, the parent of a clsact qdisc (it shares `TC_H_INGRESS`'s value).
const TC_H_CLSACT: u32 = 0xFFFF_FFF1;
/// The clsact qdisc's own handle, `ffff:`.
const CLSACT_HANDLE: u32 = 0xFFFF_0000;
/// Parents of clsact's filters: `TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS / _EGRESS)`.
const CLSACT_PARENTS: [u32; 2] = [0xFFFF_FFF2, 0xFFFF_FFF3];
const TCA_KIND: u16 = 1;

/// `struct tcmsg` (uapi linux/rtnetlink.h).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct TcMsg {
    family: u8,
    _pad1: u8,
    _pad2: u16,
    ifindex: i32,
    handle: u32,
    parent: u32,
    info: u32,
}

/// A request: header, tcmsg, and room for one short attribute (TCA_KIND "clsact").
#[repr(C)]
struct Request {
    header: libc::nlmsghdr,
    tc: TcMsg,
    attr_len: u16,
    attr_type: u16,
    attr: [u8; 8],
}

/// A netlink route socket, closed on drop.
struct Socket(std::os::fd::OwnedFd);

impl Socket {
    fn open() -> io::Result<Socket> {
        use std::os::fd::FromRawFd as _;
        // SAFETY: plain socket(2) call; the result is checked before use.
        let fd = unsafe {
            libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::NETLINK_ROUTE)
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a freshly opened descriptor that nothing else owns.
        Ok(Socket(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }))
    }

    fn send(&self, request: &Request) -> io::Result<()> {
        use std::os::fd::AsRawFd as _;
        let len = request.header.nlmsg_len as usize;
        // SAFETY: `request` is a live #[repr(C)] value of at least `len` bytes; the kernel
        // is the destination (a zeroed sockaddr_nl is pid 0).
        let sent = unsafe {
            let mut addr: libc::sockaddr_nl = std::mem::zeroed();
            addr.nl_family = libc::AF_NETLINK as u16;
            libc::sendto(
                self.0.as_raw_fd(),
                (request as *const Request).cast(),
                len,
                0,
                (&addr as *const libc::sockaddr_nl).cast(),
                size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if sent < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
    }

    /// Reads replies until an ack or the end of a dump. Returns how many messages of type
    /// `count_type` came; fails with the kernel's error if it sent one.
    fn replies(&self, count_type: u16) -> io::Result<usize> {
        use std::os::fd::AsRawFd as _;
        let mut buf = vec![0u8; 32 * 1024];
        let mut count = 0;
        loop {
            // SAFETY: `buf` is a writable buffer of the given length.
            let n =
                unsafe { libc::recv(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let mut at = 0usize;
            let n = n as usize;
            while at + size_of::<libc::nlmsghdr>() <= n {
                // SAFETY: at least a header's worth of bytes is there; read unaligned.
                let header: libc::nlmsghdr =
                    unsafe { std::ptr::read_unaligned(buf[at..].as_ptr().cast()) };
                let len = header.nlmsg_len as usize;
                if len < size_of::<libc::nlmsghdr>() || at + len > n {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "bad netlink reply"));
                }
                match header.nlmsg_type as i32 {
                    libc::NLMSG_DONE => return Ok(count),
                    libc::NLMSG_ERROR => {
                        let body = at + size_of::<libc::nlmsghdr>();
                        // SAFETY: an error message starts with an i32 errno (0: an ack).
                        let errno: i32 = unsafe {
                            std::ptr::read_unaligned(buf[body..body + 4].as_ptr().cast())
                        };
                        return if errno == 0 {
                            Ok(count)
                        } else {
                            Err(io::Error::from_raw_os_error(-errno))
                        };
                    }
                    t if t == count_type as i32 => count += 1,
                    _ => {}
                }
                at += (len + 3) & !3;
            }
        }
    }
}

fn request(kind: u16, flags: u16, tc: TcMsg, with_kind: bool) -> Request {
    let mut attr = [0u8; 8];
    attr[..7].copy_from_slice(b"clsact\0");
    let len = if with_kind { size_of::<Request>() } else { size_of::<Request>() - 12 };
    Request {
        header: libc::nlmsghdr {
            nlmsg_len: len as u32,
            nlmsg_type: kind,
            nlmsg_flags: flags,
            nlmsg_seq: 1,
            nlmsg_pid: 0,
        },
        tc,
        // 4 bytes of attribute header, 7 of "clsact\0" (padded to 8 in the message).
        attr_len: 11,
        attr_type: TCA_KIND,
        attr,
    }
}

/// How many filters the clsact qdisc of `ifindex` carries, ingress and egress together
/// (0 also when there is no clsact qdisc).
pub fn clsact_filters(ifindex: u32) -> Result<usize> {
    let mut total = 0;
    for parent in CLSACT_PARENTS {
        let socket = Socket::open().context(|| "opening a netlink socket".into())?;
        let tc = TcMsg { ifindex: ifindex as i32, parent, ..TcMsg::default() };
        let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
        socket
            .send(&request(libc::RTM_GETTFILTER, flags, tc, false))
            .context(|| format!("listing the TC filters of interface {ifindex}"))?;
        match socket.replies(libc::RTM_NEWTFILTER) {
            Ok(n) => total += n,
            // No clsact qdisc (or no interface): nothing on it.
            Err(e)
                if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOENT | libc::ENODEV)) => {
            }
            Err(e) => {
                return Err(e).context(|| format!("listing the TC filters of interface {ifindex}"));
            }
        }
    }
    Ok(total)
}

/// Deletes the clsact qdisc of `ifindex` if it carries no filter. Returns whether it did.
pub fn delete_clsact_if_empty(ifindex: u32) -> Result<bool> {
    if clsact_filters(ifindex)? > 0 {
        return Ok(false);
    }
    let socket = Socket::open().context(|| "opening a netlink socket".into())?;
    let tc = TcMsg {
        ifindex: ifindex as i32,
        handle: CLSACT_HANDLE,
        parent: TC_H_CLSACT,
        ..TcMsg::default()
    };
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16;
    socket
        .send(&request(libc::RTM_DELQDISC, flags, tc, true))
        .context(|| format!("deleting the clsact qdisc of interface {ifindex}"))?;
    match socket.replies(0) {
        Ok(_) => Ok(true),
        // Gone already (with its interface, or removed by someone else).
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENODEV | libc::EINVAL)) => {
            Ok(false)
        }
        Err(e) => Err(e).context(|| format!("deleting the clsact qdisc of interface {ifindex}")),
    }
}
