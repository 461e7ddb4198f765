//! Flow keys as people read them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use policer_common::{FlowKey, family};

/// The address in `bytes`, or `None` where the key mode left it out (all zero).
pub fn address(key: &FlowKey, bytes: &[u8; 16]) -> Option<IpAddr> {
    if bytes.iter().all(|&b| b == 0) {
        return None;
    }
    Some(match key.family {
        family::IPV4 => IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])),
        _ => IpAddr::V6(Ipv6Addr::from(*bytes)),
    })
}

/// `tcp 10.0.0.1:5201 > 10.0.0.2:40000`, with `*` for what the key leaves out.
pub fn describe(key: &FlowKey) -> String {
    let proto = match key.proto {
        6 => "tcp".to_string(),
        17 => "udp".to_string(),
        1 => "icmp".to_string(),
        58 => "icmpv6".to_string(),
        0 => "*".to_string(),
        n => format!("proto{n}"),
    };
    let end = |bytes: &[u8; 16], port: u16| {
        let addr = address(key, bytes).map_or("*".to_string(), |a| match a {
            IpAddr::V6(a) => format!("[{a}]"),
            a => a.to_string(),
        });
        if port == 0 { addr } else { format!("{addr}:{port}") }
    };
    format!("{proto} {} > {}", end(&key.src, key.src_port), end(&key.dst, key.dst_port))
}
