//! The grid's results file: one JSON record per line, appended as each point (or delay line
//! check) finishes, so that an interrupted grid resumes where it stopped.

use std::{collections::BTreeMap, fs, io::Write as _, path::Path};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use super::{Cc, Point, Profile};
use crate::bench::tcp::{Placement, Sample};

/// One line of the results file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Record {
    Point(PointRecord),
    Line(LineRecord),
}

/// What the delay line carried with nothing policing (TCP CUBIC, the grid's buffers).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LineRecord {
    pub rtt_ms: u64,
    pub flows: u32,
    pub mbit: f64,
    pub commit: String,
    pub unix_time: u64,
}

/// One point: every setup's runs, or why it did not run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PointRecord {
    pub rate_mbit: u64,
    pub rtt_ms: u64,
    pub flows: u32,
    pub cc: String,
    /// The placement: ingress, egress (TSO off) or egress-tso.
    pub direction: String,
    #[serde(flatten)]
    pub outcome: Outcome,
    pub seconds: u32,
    pub warmup: u32,
    pub repeats: u32,
    pub commit: String,
    pub unix_time: u64,
    /// Runs by setup (empty unless measured).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub setups: BTreeMap<String, Vec<Run>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    Measured,
    /// Not run: the delay line cannot carry it (a point of this machine, not of the policer).
    BeyondLine {
        reason: String,
    },
    /// A run failed (the testbed, not the policer's figures); tried again by the next run.
    Failed {
        reason: String,
    },
}

/// The figures of one run of one setup.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Goodput over the committed rate of all flows.
    pub goodput: f64,
    /// Segments the sender retransmitted (all flows).
    pub retransmits: f64,
    /// The share of the bytes the policer coloured that it dropped.
    pub loss: f64,
    /// The sender's mean smoothed RTT, ms.
    pub rtt_ms: f64,
    /// Frames the delay line or the tap could not take in.
    pub testbed_lost: f64,
}

impl Run {
    pub fn of(s: &Sample) -> Run {
        Run {
            goodput: s.goodput_over_cir,
            retransmits: s.retransmits,
            loss: s.policer_loss.unwrap_or_default(),
            rtt_ms: s.mean_rtt_ms,
            testbed_lost: s.testbed_lost,
        }
    }
}

impl PointRecord {
    /// A record of `p`, its outcome still to fill in (`Failed` until then).
    pub fn new(p: &Point, profile: Profile, warmup: u32, commit: &str, unix_time: u64) -> Self {
        PointRecord {
            rate_mbit: p.rate_mbit,
            rtt_ms: p.rtt_ms,
            flows: p.flows,
            cc: p.cc.name().into(),
            direction: p.placement.name().into(),
            outcome: Outcome::Failed { reason: "not run".into() },
            seconds: profile.seconds,
            warmup,
            repeats: profile.repeats,
            commit: commit.into(),
            unix_time,
            setups: BTreeMap::new(),
        }
    }

    /// The point, if the record names one this program knows.
    pub fn point(&self) -> Option<Point> {
        Some(Point {
            placement: Placement::from_name(&self.direction)?,
            cc: Cc::from_name(&self.cc)?,
            flows: self.flows,
            rate_mbit: self.rate_mbit,
            rtt_ms: self.rtt_ms,
        })
    }

    /// Whether this record makes a run with `profile` skip its point: a measurement at
    /// least as long and as often repeated, or a point the delay line cannot carry.
    /// A failed point is run again.
    pub fn settles(&self, profile: Profile) -> bool {
        match self.outcome {
            Outcome::Measured => self.seconds >= profile.seconds && self.repeats >= profile.repeats,
            Outcome::BeyondLine { .. } => true,
            Outcome::Failed { .. } => false,
        }
    }
}

/// Every record of the file (none if there is no file). A line that does not parse (cut
/// short when a run was killed mid-write) is left out with a warning.
pub fn load(path: &Path) -> anyhow::Result<Vec<Record>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    Ok(parse(&text, &path.display().to_string()))
}

/// The records of a results file's text.
pub fn parse(text: &str, name: &str) -> Vec<Record> {
    let mut records = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(line) {
            Ok(record) => records.push(record),
            Err(e) => eprintln!("grid: {name}:{}: left out, not a record: {e}", n + 1),
        }
    }
    records
}

/// Appends one record as one line (one write).
pub fn append(path: &Path, record: &Record) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    let mut line = serde_json::to_string(record)?;
    line.push('\n');
    let mut file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    file.write_all(line.as_bytes()).with_context(|| format!("appending to {}", path.display()))
}

/// Whether `records` settle `p` for a run with `profile` (it is skipped).
pub fn is_done(records: &[Record], p: &Point, profile: Profile) -> bool {
    records.iter().any(|r| match r {
        Record::Point(r) => r.point().as_ref() == Some(p) && r.settles(profile),
        Record::Line(_) => false,
    })
}

/// What the delay line carried, Mbit/s, by round trip and flows (the latest check).
pub fn line_capacities(records: &[Record]) -> BTreeMap<(u64, u32), f64> {
    let mut lines = BTreeMap::new();
    for r in records {
        if let Record::Line(l) = r {
            lines.insert((l.rtt_ms, l.flows), l.mbit);
        }
    }
    lines
}

/// The record that speaks for each point: the longest measurement (seconds x repeats; the
/// latest of equals), else the latest record of any outcome.
pub fn best(records: &[Record]) -> BTreeMap<Point, &PointRecord> {
    let mut best: BTreeMap<Point, &PointRecord> = BTreeMap::new();
    let rank = |r: &PointRecord| {
        let measured = matches!(r.outcome, Outcome::Measured);
        let weight = if measured { u64::from(r.seconds) * u64::from(r.repeats) } else { 0 };
        (measured, weight, r.unix_time)
    };
    for r in records {
        let Record::Point(r) = r else { continue };
        let Some(p) = r.point() else { continue };
        let better = best.get(&p).is_none_or(|held| rank(r) >= rank(held));
        if better {
            best.insert(p, r);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::grid::{Cc, full_plan};

    fn point(rate_mbit: u64, rtt_ms: u64) -> Point {
        Point { placement: Placement::Ingress, cc: Cc::Cubic, flows: 1, rate_mbit, rtt_ms }
    }

    fn measured(p: &Point, profile: Profile, unix_time: u64, goodput: f64) -> Record {
        let mut r = PointRecord::new(p, profile, 3, "abc1234", unix_time);
        r.outcome = Outcome::Measured;
        let run = Run { goodput, retransmits: 10.0, loss: 0.01, rtt_ms: 20.4, testbed_lost: 0.0 };
        r.setups.insert("default".into(), vec![run.clone(); profile.repeats as usize]);
        r.setups.insert("ebs0".into(), vec![run; profile.repeats as usize]);
        Record::Point(r)
    }

    #[test]
    fn records_survive_the_file() {
        let p = point(10, 20);
        let mut beyond = PointRecord::new(&p, Profile::FULL, 3, "abc1234", 7);
        beyond.outcome = Outcome::BeyondLine { reason: "too fast".into() };
        let line = LineRecord {
            rtt_ms: 20,
            flows: 1,
            mbit: 812.5,
            commit: "abc1234".into(),
            unix_time: 5,
        };
        let records =
            vec![measured(&p, Profile::FULL, 9, 0.95), Record::Point(beyond), Record::Line(line)];
        let text: String =
            records.iter().map(|r| serde_json::to_string(r).unwrap() + "\n").collect();
        assert!(text.contains(r#""kind":"point""#) && text.contains(r#""outcome":"measured""#));
        assert!(text.contains(r#""outcome":"beyond-line","reason":"too fast""#), "{text}");
        assert_eq!(parse(&text, "test"), records);
    }

    #[test]
    fn a_line_cut_short_is_left_out() {
        let p = point(10, 20);
        let whole = serde_json::to_string(&measured(&p, Profile::FULL, 9, 0.95)).unwrap();
        let text = format!("{whole}\n{}", &whole[..whole.len() / 2]);
        assert_eq!(parse(&text, "test").len(), 1);
    }

    #[test]
    fn points_in_the_file_are_skipped_and_the_rest_run() {
        let dir = std::env::temp_dir().join(format!("grid-resume-{}", std::process::id()));
        let path = dir.join("results.jsonl");
        let _ = fs::remove_dir_all(&dir);
        let plan = full_plan();
        let (a, b, c) = (plan[0], plan[1], plan[2]);
        append(&path, &measured(&a, Profile::FULL, 1, 0.95)).unwrap();
        let mut beyond = PointRecord::new(&b, Profile::FULL, 3, "abc1234", 2);
        beyond.outcome = Outcome::BeyondLine { reason: "line".into() };
        append(&path, &Record::Point(beyond)).unwrap();
        let mut failed = PointRecord::new(&c, Profile::FULL, 3, "abc1234", 3);
        failed.outcome = Outcome::Failed { reason: "iperf3 failed".into() };
        append(&path, &Record::Point(failed)).unwrap();
        let records = load(&path).unwrap();
        let todo: Vec<Point> =
            plan.iter().copied().filter(|p| !is_done(&records, p, Profile::FULL)).collect();
        // The measured and the beyond-the-line point are settled; the failed one runs again.
        assert_eq!(todo.len(), plan.len() - 2);
        assert!(!todo.contains(&a) && !todo.contains(&b) && todo.contains(&c));
        // A quick measurement does not settle a point for a full run, and a full one does
        // for a quick run.
        let quick = vec![measured(&a, Profile::QUICK, 1, 0.95)];
        assert!(!is_done(&quick, &a, Profile::FULL));
        assert!(is_done(&quick, &a, Profile::QUICK));
        assert!(is_done(&records, &a, Profile::QUICK));
        // --fresh starts from an empty file: nothing is skipped.
        let _ = fs::remove_dir_all(&dir);
        assert!(load(&path).unwrap().is_empty());
    }

    #[test]
    fn the_longest_measurement_speaks_for_a_point() {
        let p = point(50, 80);
        let records = vec![
            measured(&p, Profile::FULL, 1, 0.90),
            measured(&p, Profile::QUICK, 2, 0.80),
            Record::Point(PointRecord::new(&p, Profile::FULL, 3, "abc", 3)),
        ];
        let best = best(&records);
        assert_eq!(best[&p].unix_time, 1, "the full run, not the later quick one or the failure");
        let only_failed = vec![Record::Point(PointRecord::new(&p, Profile::FULL, 3, "abc", 3))];
        assert!(matches!(super::best(&only_failed)[&p].outcome, Outcome::Failed { .. }));
    }
}
