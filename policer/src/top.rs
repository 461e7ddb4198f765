//! `policer top`: the heaviest flows by their rate over the last interval, from two reads of
//! the flow table (as `policer flows` reads it).

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use policer_common::{FlowKey, Phase, mode};

use crate::{Policer, Result, keys, maps::Flow};

/// One read of the flow table.
#[derive(Clone, Debug)]
pub struct Sample {
    pub at: Instant,
    pub flows: Vec<Flow>,
}

impl Sample {
    pub fn read(policer: &Policer) -> Result<Sample> {
        Ok(Sample { at: Instant::now(), flows: policer.flows()? })
    }
}

/// A flow, with its rate over the interval between two samples.
#[derive(Clone, Debug)]
pub struct FlowRate {
    pub flow: Flow,
    /// Bits per second over the interval (the whole frames the meter counted).
    pub rate_bps: f64,
    /// Red packets in the interval.
    pub red_in_interval: u64,
    /// Where a flow of a `--mode tcp` policer is: slow-start, len-debt, watched or plain.
    pub phase: Option<&'static str>,
}

impl FlowRate {
    pub fn describe(&self) -> String {
        keys::describe(&self.flow.key)
    }
}

/// The flows of `now` with their rates since `before`, fastest first (then heaviest). A
/// flow not in `before`, or whose counts went back (evicted and inserted again), counts
/// from zero.
pub fn rates(before: &Sample, now: &Sample, profile_mode: u8) -> (Duration, Vec<FlowRate>) {
    let interval = now.at.saturating_duration_since(before.at);
    let seconds = interval.as_secs_f64().max(1e-3);
    let previous: HashMap<FlowKey, &Flow> = before.flows.iter().map(|f| (f.key, f)).collect();
    let mut rows: Vec<FlowRate> = now
        .flows
        .iter()
        .map(|flow| {
            let (bytes, red) = match previous.get(&flow.key) {
                Some(old) if old.state.bytes <= flow.state.bytes => (
                    flow.state.bytes - old.state.bytes,
                    flow.state.red_packets.saturating_sub(old.state.red_packets),
                ),
                _ => (flow.state.bytes, flow.state.red_packets),
            };
            FlowRate {
                flow: *flow,
                rate_bps: bytes as f64 * 8.0 / seconds,
                red_in_interval: red,
                phase: (profile_mode == mode::TCP).then(|| Phase::of(&flow.state).name()),
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        b.rate_bps
            .total_cmp(&a.rate_bps)
            .then(b.flow.state.bytes.cmp(&a.flow.state.bytes))
            .then(a.flow.key.cmp(&b.flow.key))
    });
    (interval, rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use policer_common::{FlowKey, FlowState};

    fn flow(port: u16, bytes: u64, red: u64) -> Flow {
        let mut key: FlowKey = bytemuck::Zeroable::zeroed();
        key.src_port = port;
        let mut state: FlowState = bytemuck::Zeroable::zeroed();
        state.bytes = bytes;
        state.packets = bytes / 1000;
        state.red_packets = red;
        Flow { key, state }
    }

    #[test]
    fn rates_over_the_interval_fastest_first() {
        let start = Instant::now();
        let before = Sample { at: start, flows: vec![flow(1, 1_000_000, 5), flow(2, 50_000, 0)] };
        let now = Sample {
            at: start + Duration::from_secs(2),
            // 1: +250 kB and 3 reds; 2: evicted and back with 10 kB; 3: new with 1 MB.
            flows: vec![flow(1, 1_250_000, 8), flow(2, 10_000, 0), flow(3, 1_000_000, 1)],
        };
        let (interval, rows) = rates(&before, &now, mode::JUNOSE);
        assert_eq!(interval, Duration::from_secs(2));
        let got: Vec<(u16, f64, u64)> =
            rows.iter().map(|r| (r.flow.key.src_port, r.rate_bps, r.red_in_interval)).collect();
        assert_eq!(got, [(3, 4_000_000.0, 1), (1, 1_000_000.0, 3), (2, 40_000.0, 0)]);
        assert!(rows.iter().all(|r| r.phase.is_none()), "phases are of tcp mode only");
    }
}
