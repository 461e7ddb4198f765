//! Frames built by hand for BPF_PROG_TEST_RUN and for captures: Ethernet, optional VLAN
//! tags, IPv4 or IPv6, TCP or UDP, each of an exact total length.

/// A TCP or UDP packet between two addresses of one family.
#[derive(Clone, Copy, Debug)]
pub struct Packet {
    pub src: std::net::IpAddr,
    pub dst: std::net::IpAddr,
    pub proto: u8,
    pub src_port: u16,
    pub dst_port: u16,
    /// VLAN tag protocol ids, outermost first (0x8100, 0x88a8).
    pub vlans: &'static [u16],
    /// IPv4 TOS / IPv6 traffic class (DSCP and ECN).
    pub tos: u8,
}

impl Packet {
    pub fn tcp(src: &str, dst: &str, src_port: u16, dst_port: u16) -> Packet {
        Packet {
            src: src.parse().expect("address"),
            dst: dst.parse().expect("address"),
            proto: 6,
            src_port,
            dst_port,
            vlans: &[],
            tos: 0,
        }
    }

    pub fn udp(src: &str, dst: &str, src_port: u16, dst_port: u16) -> Packet {
        Packet { proto: 17, ..Packet::tcp(src, dst, src_port, dst_port) }
    }

    pub fn vlans(self, vlans: &'static [u16]) -> Packet {
        Packet { vlans, ..self }
    }

    pub fn tos(self, tos: u8) -> Packet {
        Packet { tos, ..self }
    }

    /// The frame, `len` bytes in all (padded with zeros past the headers).
    pub fn frame(&self, len: usize) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
        for &tpid in self.vlans {
            f.extend_from_slice(&tpid.to_be_bytes());
            f.extend_from_slice(&100u16.to_be_bytes());
        }
        let l4_len = if self.proto == 6 { 20 } else { 8 };
        match (self.src, self.dst) {
            (std::net::IpAddr::V4(src), std::net::IpAddr::V4(dst)) => {
                f.extend_from_slice(&0x0800u16.to_be_bytes());
                let ip_len = (len - f.len()) as u16;
                let l3 = f.len();
                f.extend_from_slice(&[0x45, self.tos]);
                f.extend_from_slice(&ip_len.to_be_bytes());
                f.extend_from_slice(&[0, 0, 0x40, 0, 64, self.proto, 0, 0]);
                f.extend_from_slice(&src.octets());
                f.extend_from_slice(&dst.octets());
                let check = ipv4_checksum(&f[l3..l3 + 20]);
                f[l3 + 10..l3 + 12].copy_from_slice(&check.to_be_bytes());
            }
            (std::net::IpAddr::V6(src), std::net::IpAddr::V6(dst)) => {
                f.extend_from_slice(&0x86DDu16.to_be_bytes());
                let payload = (len - f.len() - 40) as u16;
                f.extend_from_slice(&[0x60 | (self.tos >> 4), self.tos << 4, 0, 0]);
                f.extend_from_slice(&payload.to_be_bytes());
                f.extend_from_slice(&[self.proto, 64]);
                f.extend_from_slice(&src.octets());
                f.extend_from_slice(&dst.octets());
            }
            _ => panic!("addresses of one family"),
        }
        f.extend_from_slice(&self.src_port.to_be_bytes());
        f.extend_from_slice(&self.dst_port.to_be_bytes());
        if self.proto == 6 {
            f.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0]);
        } else {
            f.extend_from_slice(&((len - f.len() + 4) as u16).to_be_bytes());
            f.extend_from_slice(&[0, 0]);
        }
        assert!(f.len() <= len, "{len} bytes cannot hold the headers ({} + {l4_len})", f.len());
        f.resize(len, 0);
        f
    }
}

/// An Ethernet + IPv4 + TCP frame of exactly `len` bytes from 10.0.0.1 to `dst`, port 80.
pub fn tcp_frame(len: usize, src_port: u16, dst: [u8; 4]) -> Vec<u8> {
    let dst = std::net::Ipv4Addr::from(dst).to_string();
    Packet::tcp("10.0.0.1", &dst, src_port, 80).frame(len)
}

/// The Internet checksum (RFC 1071) of an IPv4 header; 0 over a header with a valid one.
pub fn ipv4_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header.chunks(2).map(|w| u16::from_be_bytes([w[0], w[1]]) as u32).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}
