//! Prometheus metrics of every policer of the machine, read from their pins at each scrape
//! (so a policer attached or detached meanwhile appears or disappears at the next one).
//!
//! Counters are read as `policer stats` reads them ([`Policer::counters`], summed over
//! CPUs), so the two always agree. Metric names (the text format adds `_total` to
//! counters):
//!
//! * `policer_packets_total`, `policer_bytes_total` {interface, direction, colour, outcome}:
//!   what the policer coloured green, yellow or red, and whether it passed, marked or
//!   dropped it.
//! * `policer_unpoliced_packets_total`, `policer_unpoliced_bytes_total` {interface,
//!   direction, reason}: passed without policing (unparsed, non_ip, no_profile,
//!   flow_table_error).
//! * `policer_flows_new_total`, `policer_flows_active`, `policer_flows_max`.
//! * `policer_profile_cir_bytes_per_second`, `policer_profile_cbs_bytes`,
//!   `policer_profile_ebs_bytes`, and `policer_info` (1, with the attachment, mode, key and
//!   actions as labels).
//! * `policer_export_read_errors`: policers that could not be read at this scrape.

use policer_common::{Colour, Counter, Profile, counter};
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric as _},
    metrics::{MetricType, counter::ConstCounter, gauge::ConstGauge},
};

use crate::{Direction, Policer, Result, maps::Counters, pins, profile};

/// What one scrape reads of one policer.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub iface: String,
    pub direction: Direction,
    pub method: &'static str,
    pub profile: Profile,
    pub counters: Counters,
    pub flows_active: usize,
    pub flows_max: u64,
}

impl Snapshot {
    /// Reads the policer of `iface` in `direction` from its pins.
    pub fn read(iface: &str, direction: Direction) -> Result<Snapshot> {
        let policer = Policer::open(iface, Some(direction))?;
        Ok(Snapshot {
            iface: iface.to_string(),
            direction,
            method: policer.method()?,
            profile: policer.profile()?,
            counters: policer.counters()?,
            flows_active: policer.flow_count()?,
            flows_max: policer.flow_capacity()?,
        })
    }
}

/// Every policer pinned on this machine; those that cannot be read (detached during the
/// scrape, made by another version) are returned apart, with why.
pub fn snapshot_all() -> (Vec<Snapshot>, Vec<(String, crate::Error)>) {
    let mut snapshots = Vec::new();
    let mut errors = Vec::new();
    let interfaces = match pins::attached_interfaces() {
        Ok(interfaces) => interfaces,
        Err(e) => return (snapshots, vec![(pins::ROOT.to_string(), e)]),
    };
    for iface in interfaces {
        for direction in pins::attached_directions(&iface) {
            match Snapshot::read(&iface, direction) {
                Ok(snapshot) => snapshots.push(snapshot),
                Err(e) => errors.push((format!("{iface} {}", direction.name()), e)),
            }
        }
    }
    (snapshots, errors)
}

/// What a packet that was coloured became, in counter order (as `policer stats` prints).
pub const OUTCOMES: [&str; 3] = ["passed", "marked", "dropped"];

/// The counters of packets passed without policing, and their `reason` label.
pub const UNPOLICED: [(u32, &str); 4] = [
    (counter::UNPARSED, "unparsed"),
    (counter::NON_IP, "non_ip"),
    (counter::NO_PROFILE, "no_profile"),
    (counter::FLOW_TABLE_ERROR, "flow_table_error"),
];

/// A [`Collector`] that reads every policer at each scrape.
#[derive(Debug, Default)]
pub struct PolicerCollector;

type Labels<'a> = Vec<(&'static str, &'a str)>;

fn base(s: &Snapshot) -> Labels<'_> {
    vec![("interface", s.iface.as_str()), ("direction", s.direction.name())]
}

/// One row per colour and outcome.
fn coloured(s: &Snapshot, pick: fn(Counter) -> u64) -> Vec<(Labels<'_>, u64)> {
    let mut rows = Vec::new();
    for colour in Colour::ALL {
        for (outcome, name) in OUTCOMES.iter().enumerate() {
            let c = s.counters.get(counter::by_colour(colour as u32, outcome as u32));
            let mut labels = base(s);
            labels.push(("colour", colour.name()));
            labels.push(("outcome", name));
            rows.push((labels, pick(c)));
        }
    }
    rows
}

/// One row per reason a packet went unpoliced.
fn unpoliced(s: &Snapshot, pick: fn(Counter) -> u64) -> Vec<(Labels<'_>, u64)> {
    UNPOLICED
        .iter()
        .map(|&(index, reason)| {
            let mut labels = base(s);
            labels.push(("reason", reason));
            (labels, pick(s.counters.get(index)))
        })
        .collect()
}

impl Collector for PolicerCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let (snapshots, errors) = snapshot_all();
        for (what, error) in &errors {
            eprintln!("policer export: cannot read the policer of {what}: {error}");
        }
        let packets: fn(Counter) -> u64 = |c| c.packets;
        let bytes: fn(Counter) -> u64 = |c| c.bytes;

        let mut counters = |name: &str, help: &str, rows: Vec<(Labels<'_>, u64)>| {
            let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (labels, value) in rows {
                ConstCounter::new(value).encode(metric.encode_family(&labels)?)?;
            }
            Ok::<(), std::fmt::Error>(())
        };
        counters(
            "policer_packets",
            "Packets the policer coloured (colour), and what it did with them (outcome).",
            snapshots.iter().flat_map(|s| coloured(s, packets)).collect(),
        )?;
        counters(
            "policer_bytes",
            "Bytes (whole frames) the policer coloured (colour), and what it did with them \
             (outcome).",
            snapshots.iter().flat_map(|s| coloured(s, bytes)).collect(),
        )?;
        counters(
            "policer_unpoliced_packets",
            "Packets passed without policing, by reason (the policer fails open).",
            snapshots.iter().flat_map(|s| unpoliced(s, packets)).collect(),
        )?;
        counters(
            "policer_unpoliced_bytes",
            "Bytes passed without policing, by reason.",
            snapshots.iter().flat_map(|s| unpoliced(s, bytes)).collect(),
        )?;
        counters(
            "policer_flows_new",
            "Flows inserted into the flow table (again after an eviction).",
            snapshots
                .iter()
                .map(|s| (base(s), s.counters.get(counter::NEW_FLOWS).packets))
                .collect(),
        )?;

        let mut gauges = |name: &str, help: &str, rows: Vec<(Labels<'_>, u64)>| {
            let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for (labels, value) in rows {
                ConstGauge::new(value).encode(metric.encode_family(&labels)?)?;
            }
            Ok::<(), std::fmt::Error>(())
        };
        let per_policer = |value: fn(&Snapshot) -> u64| {
            snapshots.iter().map(|s| (base(s), value(s))).collect::<Vec<_>>()
        };
        gauges(
            "policer_flows_active",
            "Flows in the flow table.",
            per_policer(|s| s.flows_active as u64),
        )?;
        gauges("policer_flows_max", "Size of the flow table.", per_policer(|s| s.flows_max))?;
        gauges(
            "policer_profile_cir_bytes_per_second",
            "Committed information rate.",
            per_policer(|s| s.profile.cir_bytes_per_sec),
        )?;
        gauges(
            "policer_profile_cbs_bytes",
            "Committed burst size (bucket depth).",
            per_policer(|s| s.profile.cbs_bytes),
        )?;
        gauges(
            "policer_profile_ebs_bytes",
            "Excess burst size (limit of the cumulative debt; 0: a plain token bucket).",
            per_policer(|s| s.profile.ebs_bytes),
        )?;
        let infos: Vec<(Vec<(&str, String)>, u64)> = snapshots
            .iter()
            .map(|s| {
                let labels = vec![
                    ("interface", s.iface.clone()),
                    ("direction", s.direction.name().to_string()),
                    ("attachment", s.method.to_string()),
                    ("mode", policer_common::mode::name(s.profile.mode).to_string()),
                    ("key", profile::key_mode_name(s.profile.key_mode).to_string()),
                    ("yellow", profile::action_name(s.profile.action_for(Colour::Yellow))),
                    ("red", profile::action_name(s.profile.action_for(Colour::Red))),
                ];
                (labels, 1)
            })
            .collect();
        let mut metric = encoder.encode_descriptor(
            "policer_info",
            "1 for each policer, with how it is attached and its profile's words as labels.",
            None,
            MetricType::Gauge,
        )?;
        for (labels, value) in &infos {
            ConstGauge::new(*value).encode(metric.encode_family(labels)?)?;
        }
        let metric = encoder.encode_descriptor(
            "policer_export_read_errors",
            "Policers that could not be read at this scrape (see the exporter's log).",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(errors.len() as u64).encode(metric)
    }
}
