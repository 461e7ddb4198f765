//! Plans: profiles of their own for the addresses under a prefix, chosen in the kernel by
//! the longest matching prefix (see the kernel program's module comment and docs/plans.md).

use std::{fmt, net::IpAddr, os::fd::AsRawFd as _, str::FromStr};

use policer_common::{Counter, MAX_PLANS, Profile, plan_counter};

use crate::{
    Policer,
    error::{Context as _, Error, Result},
    maps::{Maps, PlanPrefix},
};

/// An IPv4 or IPv6 prefix, host bits clear: `10.1.0.0/16`, `2001:db8::/32`, or a bare
/// address for a single host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prefix(pub PlanPrefix);

impl Prefix {
    pub fn addr(&self) -> IpAddr {
        match self.0 {
            PlanPrefix::V4(a, _) => IpAddr::from(a),
            PlanPrefix::V6(a, _) => IpAddr::from(a),
        }
    }

    pub fn prefix_len(&self) -> u8 {
        match self.0 {
            PlanPrefix::V4(_, len) | PlanPrefix::V6(_, len) => len,
        }
    }

    /// Whether `addr` is under this prefix.
    pub fn contains(&self, addr: IpAddr) -> bool {
        let (mine, theirs): (Vec<u8>, Vec<u8>) = match (self.0, addr) {
            (PlanPrefix::V4(a, _), IpAddr::V4(b)) => (a.to_vec(), b.octets().to_vec()),
            (PlanPrefix::V6(a, _), IpAddr::V6(b)) => (a.to_vec(), b.octets().to_vec()),
            _ => return false,
        };
        let bits = usize::from(self.prefix_len());
        (0..bits).all(|i| (mine[i / 8] ^ theirs[i / 8]) & (0x80 >> (i % 8)) == 0)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr(), self.prefix_len())
    }
}

impl FromStr for Prefix {
    type Err = Error;

    fn from_str(text: &str) -> Result<Prefix> {
        let bad = |why: String| Error::BadPrefix { text: text.to_string(), why };
        let (addr_text, len_text) = match text.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (text, None),
        };
        let addr: IpAddr = addr_text
            .parse()
            .map_err(|_| bad(format!("{addr_text:?} is not an IPv4 or IPv6 address")))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len_text {
            None => max,
            Some(l) => l.parse::<u8>().ok().filter(|&l| l <= max).ok_or_else(|| {
                bad(format!(
                    "the length must be a number from 0 to {max} for an {} prefix",
                    if max == 32 { "IPv4" } else { "IPv6" }
                ))
            })?,
        };
        let prefix = Prefix(match addr {
            IpAddr::V4(a) => PlanPrefix::V4(a.octets(), len),
            IpAddr::V6(a) => PlanPrefix::V6(a.octets(), len),
        });
        let network = prefix.network();
        if network != prefix {
            return Err(bad(format!("host bits are set (the network is {network})")));
        }
        Ok(prefix)
    }
}

impl Prefix {
    /// The prefix with its host bits cleared.
    fn network(&self) -> Prefix {
        fn clear<const N: usize>(mut a: [u8; N], len: u8) -> [u8; N] {
            for (i, byte) in a.iter_mut().enumerate() {
                let keep = (usize::from(len).saturating_sub(i * 8)).min(8);
                *byte &= (0xff00u16 >> keep) as u8;
            }
            a
        }
        Prefix(match self.0 {
            PlanPrefix::V4(a, len) => PlanPrefix::V4(clear(a, len), len),
            PlanPrefix::V6(a, len) => PlanPrefix::V6(clear(a, len), len),
        })
    }
}

/// A plan as `plan list` and `stats` show it.
#[derive(Clone, Debug)]
pub struct Plan {
    pub prefix: Prefix,
    /// Its index in the profile table (1 to 1024), also found in its flows' keys.
    pub index: u32,
    pub profile: Profile,
    /// Green, yellow, red, dropped.
    pub counters: [Counter; plan_counter::PER_PLAN as usize],
}

/// Locks the policer's pin directory (flock, released when the returned file is closed)
/// while plans or profiles change: the profile slots tolerate one writer at a time.
fn lock(policer: &Policer) -> Result<std::fs::File> {
    let dir = std::fs::File::open(&policer.dir)
        .context(|| format!("opening {}", policer.dir.display()))?;
    // SAFETY: flock on a valid, open descriptor; released when the file is closed.
    if unsafe { libc::flock(dir.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(std::io::Error::last_os_error())
            .context(|| format!("locking {}", policer.dir.display()));
    }
    Ok(dir)
}

impl Policer {
    /// The plans, by prefix.
    pub fn plans(&self) -> Result<Vec<Plan>> {
        list(&self.maps)
    }

    /// Adds a plan: `profile` for the addresses under `prefix`, live. Refuses a prefix that
    /// has a plan already and a plan beyond [`MAX_PLANS`], changing nothing.
    pub fn plan_add(&mut self, prefix: Prefix, profile: &Profile) -> Result<u32> {
        let _lock = lock(self)?;
        add(&mut self.maps, &self.iface, prefix, profile)
    }

    /// Changes the profile of the plan of exactly `prefix`, live: its flows keep their
    /// state. `change` makes the new profile from the current one.
    pub fn plan_set(
        &mut self,
        prefix: Prefix,
        change: impl FnOnce(&Profile) -> Result<Profile>,
    ) -> Result<Profile> {
        let _lock = lock(self)?;
        let index = find(&self.maps, prefix)?.ok_or_else(|| Error::NoSuchPlan {
            iface: self.iface.clone(),
            prefix: prefix.to_string(),
        })?;
        let profile = change(&self.maps.profile_at(index)?)?;
        self.maps.store_profile_at(index, &profile)?;
        Ok(profile)
    }

    /// Deletes the plan of exactly `prefix`, live: its addresses take the profile that now
    /// matches them, with fresh buckets (the plan's flows are deleted).
    pub fn plan_del(&mut self, prefix: Prefix) -> Result<()> {
        let _lock = lock(self)?;
        del(&mut self.maps, &self.iface, prefix)
    }
}

/// The plans of `maps`, by prefix.
pub fn list(maps: &Maps) -> Result<Vec<Plan>> {
    maps.plan_entries()?
        .into_iter()
        .map(|(prefix, index)| {
            Ok(Plan {
                prefix: Prefix(prefix),
                index,
                profile: maps.profile_at(index)?,
                counters: maps.plan_counters(index)?,
            })
        })
        .collect()
}

fn find(maps: &Maps, prefix: Prefix) -> Result<Option<u32>> {
    Ok(maps.plan_entries()?.into_iter().find(|(p, _)| *p == prefix.0).map(|(_, i)| i))
}

/// Adds a plan to the maps of a policer (`iface` names it in errors); the caller holds the
/// policer's lock. Returns the plan's profile index.
pub fn add(maps: &mut Maps, iface: &str, prefix: Prefix, profile: &Profile) -> Result<u32> {
    let entries = maps.plan_entries()?;
    if entries.iter().any(|(p, _)| *p == prefix.0) {
        return Err(Error::PlanExists { iface: iface.to_string(), prefix: prefix.to_string() });
    }
    if entries.len() >= MAX_PLANS as usize {
        return Err(Error::TooManyPlans { iface: iface.to_string(), max: MAX_PLANS });
    }
    let index = (1..=MAX_PLANS)
        .find(|i| entries.iter().all(|(_, used)| used != i))
        .expect("fewer than MAX_PLANS plans leave an index free");
    // The profile first (no program run reaches the entry yet), then the prefix, then the
    // count that makes the program look the prefixes up.
    maps.store_profile_at(index, &Profile { plans: 0, ..*profile })?;
    if let Err(e) = maps.insert_plan(prefix.0, index) {
        let _ = maps.clear_profile_at(index);
        return Err(e);
    }
    let mut default = maps.profile()?;
    default.plans = (entries.len() + 1) as u16;
    maps.store_profile(&default)?;
    Ok(index)
}

/// Deletes a plan from the maps of a policer; the caller holds the policer's lock.
pub fn del(maps: &mut Maps, iface: &str, prefix: Prefix) -> Result<()> {
    let entries = maps.plan_entries()?;
    let Some(&(_, index)) = entries.iter().find(|(p, _)| *p == prefix.0) else {
        return Err(Error::NoSuchPlan { iface: iface.to_string(), prefix: prefix.to_string() });
    };
    maps.remove_plan(prefix.0)?;
    let mut default = maps.profile()?;
    default.plans = (entries.len() - 1) as u16;
    // Waits a grace period: afterwards no program run can still hold the plan's index.
    maps.store_profile(&default)?;
    maps.purge_flows_of(index)?;
    maps.clear_profile_at(index)
}

/// A plan as `simulate --plan` takes it: `PREFIX=RATE[,cbs=SIZE|TIME][,ebs=..][,mode=..]
/// [,key=..][,yellow=..][,red=..]`, unset fields taking `attach`'s defaults.
pub fn parse_spec(text: &str, max_frame: u64) -> Result<(Prefix, Profile)> {
    let bad = |why: String| Error::InvalidProfile(format!("invalid plan {text:?}: {why}"));
    let (prefix, rest) = text
        .split_once('=')
        .ok_or_else(|| bad("expected PREFIX=RATE[,cbs=..,ebs=..,mode=..,key=..]".into()))?;
    let prefix: Prefix = prefix.trim().parse()?;
    let mut fields = rest.split(',');
    let rate = fields.next().unwrap_or_default().trim();
    let mut request = crate::profile::ProfileRequest {
        cir_bits: Some(crate::units::parse_rate(rate).map_err(|e| bad(e.to_string()))?),
        ..Default::default()
    };
    for field in fields {
        let (name, value) =
            field.split_once('=').ok_or_else(|| bad(format!("{field:?}: expected NAME=VALUE")))?;
        let value = value.trim();
        let burst = |v: &str| crate::units::parse_burst(v).map_err(|e| bad(e.to_string()));
        match name.trim() {
            "cbs" => request.cbs = Some(burst(value)?),
            "ebs" => request.ebs = Some(burst(value)?),
            "mode" => request.mode = Some(crate::profile::parse_mode(value).map_err(bad)?),
            "key" => request.key_mode = Some(crate::profile::parse_key_mode(value).map_err(bad)?),
            "yellow" => request.yellow = Some(crate::profile::parse_action(value).map_err(bad)?),
            "red" => request.red = Some(crate::profile::parse_action(value).map_err(bad)?),
            other => {
                return Err(bad(format!(
                    "unknown field {other:?}: expected cbs, ebs, mode, key, yellow or red"
                )));
            }
        }
    }
    Ok((prefix, request.resolve_new(max_frame)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_specs_parse_with_defaults_and_say_what_is_wrong() {
        let (prefix, profile) = parse_spec("10.1.0.0/16=2mbit,cbs=3000,key=all", 1514).unwrap();
        assert_eq!(prefix.to_string(), "10.1.0.0/16");
        assert_eq!(profile.cir_bytes_per_sec, 250_000);
        // As at attach: ebs twice cbs, never below four maximum-size frames.
        assert_eq!((profile.cbs_bytes, profile.ebs_bytes), (3000, 4 * 1514));
        assert_eq!(profile.key_mode, policer_common::key_mode::ALL);
        let why = |t: &str| parse_spec(t, 1514).unwrap_err().to_string();
        assert!(why("10.1.0.0/16").contains("expected PREFIX=RATE"), "{}", why("10.1.0.0/16"));
        assert!(why("10.1.0.0/16=fast").contains("invalid plan"));
        assert!(why("10.1.0.0/16=1mbit,burst=1k").contains("unknown field \"burst\""));
        assert!(why("10.1.0.1/16=1mbit").contains("host bits are set"));
    }

    #[test]
    fn prefixes_parse_and_print() {
        for text in ["10.1.0.0/16", "192.0.2.8/29", "0.0.0.0/0", "2001:db8::/32", "::/0"] {
            assert_eq!(text.parse::<Prefix>().unwrap().to_string(), text);
        }
        assert_eq!("10.0.0.1".parse::<Prefix>().unwrap().to_string(), "10.0.0.1/32");
        assert_eq!("2001:db8::1".parse::<Prefix>().unwrap().to_string(), "2001:db8::1/128");
    }

    #[test]
    fn bad_prefixes_say_why() {
        let why = |t: &str| t.parse::<Prefix>().unwrap_err().to_string();
        assert!(why("10.0.0.0/33").contains("from 0 to 32"), "{}", why("10.0.0.0/33"));
        assert!(why("2001:db8::/129").contains("from 0 to 128"));
        assert!(why("10.0.0.1/24").contains("host bits are set (the network is 10.0.0.0/24)"));
        assert!(why("2001:db8::1/64").contains("2001:db8::/64"));
        assert!(why("10.0.0/24").contains("not an IPv4 or IPv6 address"));
        assert!(why("10.0.0.0/").contains("from 0 to 32"));
        assert!(why("10.0.0.0/-1").contains("from 0 to 32"));
    }

    #[test]
    fn contains_follows_the_length() {
        let p: Prefix = "10.1.0.0/16".parse().unwrap();
        assert!(p.contains("10.1.255.3".parse().unwrap()));
        assert!(!p.contains("10.2.0.1".parse().unwrap()));
        assert!(!p.contains("::1".parse().unwrap()));
        assert!("0.0.0.0/0".parse::<Prefix>().unwrap().contains("1.2.3.4".parse().unwrap()));
    }
}
