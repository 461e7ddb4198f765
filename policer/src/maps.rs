//! Typed access to the policer's maps, whether just loaded or opened from their pins.

use std::{
    os::fd::{AsFd as _, AsRawFd as _},
    path::Path,
};

use aya::{
    Ebpf,
    maps::{
        Array, HashMap, LpmTrie, Map, MapData, MapError, PerCpuArray, PerCpuValues, lpm_trie::Key,
    },
    util::nr_cpus,
};
use policer_common::{
    Counter, FlowKey, FlowKey4, FlowState, LAYOUT_VERSION, MAP_COUNTERS, MAP_FLOWS,
    MAP_PLAN_COUNTERS, MAP_PLANS4, MAP_PLANS6, MAP_PROFILE, MAP_SLOT_KEYS4, MAP_SLOTS4, Profile,
    ProfileCell, SLOT_WAYS, SlotKeys4, attachment, counter, family, plan_counter, set_of,
};

use crate::error::{Context as _, Error, Result};

/// The maps of one policer that user space reads or writes, and pins.
pub struct Maps {
    profile: Map,
    slot_keys4: Map,
    slots4: Map,
    flows: Map,
    counters: Map,
    plans4: Map,
    plans6: Map,
    plan_counters: Map,
}

/// A plan's prefix as stored in the tries: the address bytes (network order) and length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PlanPrefix {
    V4([u8; 4], u8),
    V6([u8; 16], u8),
}

/// One flow of the flow table.
#[derive(Clone, Copy, Debug)]
pub struct Flow {
    pub key: FlowKey,
    pub state: FlowState,
}

/// The counters summed over all CPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters(pub [Counter; counter::LEN as usize]);

impl Counters {
    pub fn get(&self, index: u32) -> Counter {
        self.0[index as usize]
    }
}

impl Maps {
    /// Takes the maps out of a freshly loaded object (the program keeps its own references).
    pub fn take_from(ebpf: &mut Ebpf) -> Result<Maps> {
        let mut take = |name: &str| {
            ebpf.take_map(name).ok_or_else(|| Error::Bpf {
                context: format!("the eBPF object has no map {name}"),
                source: "missing map".into(),
            })
        };
        Ok(Maps {
            profile: take(MAP_PROFILE)?,
            slot_keys4: take(MAP_SLOT_KEYS4)?,
            slots4: take(MAP_SLOTS4)?,
            flows: take(MAP_FLOWS)?,
            counters: take(MAP_COUNTERS)?,
            plans4: take(MAP_PLANS4)?,
            plans6: take(MAP_PLANS6)?,
            plan_counters: take(MAP_PLAN_COUNTERS)?,
        })
    }

    /// Opens the maps pinned in `dir`, and checks they are of this version's layout.
    pub fn open(dir: &Path) -> Result<Maps> {
        let open = |name: &str| {
            let path = dir.join(name);
            let data =
                MapData::from_pin(&path).context(|| format!("opening {}", path.display()))?;
            Map::from_map_data(data).context(|| format!("opening {}", path.display()))
        };
        // The profile first: pins of an older layout are named as such, not as missing maps.
        let profile = open(MAP_PROFILE)?;
        let found = profile_array(&profile)?
            .get(&0, 0)
            .context(|| format!("reading {MAP_PROFILE}"))?
            .layout_version;
        if found != LAYOUT_VERSION {
            return Err(Error::IncompatibleLayout {
                path: dir.to_path_buf(),
                found,
                expected: LAYOUT_VERSION,
            });
        }
        Ok(Maps {
            profile,
            slot_keys4: open(MAP_SLOT_KEYS4)?,
            slots4: open(MAP_SLOTS4)?,
            flows: open(MAP_FLOWS)?,
            counters: open(MAP_COUNTERS)?,
            plans4: open(MAP_PLANS4)?,
            plans6: open(MAP_PLANS6)?,
            plan_counters: open(MAP_PLAN_COUNTERS)?,
        })
    }

    /// Pins every map into `dir`.
    pub fn pin(&self, dir: &Path) -> Result<()> {
        for (name, map) in self.named() {
            let path = dir.join(name);
            map.pin(&path).context(|| format!("pinning {}", path.display()))?;
        }
        Ok(())
    }

    fn named(&self) -> [(&'static str, &Map); 8] {
        [
            (MAP_PROFILE, &self.profile),
            (MAP_SLOT_KEYS4, &self.slot_keys4),
            (MAP_SLOTS4, &self.slots4),
            (MAP_FLOWS, &self.flows),
            (MAP_COUNTERS, &self.counters),
            (MAP_PLANS4, &self.plans4),
            (MAP_PLANS6, &self.plans6),
            (MAP_PLAN_COUNTERS, &self.plan_counters),
        ]
    }

    fn profile_array(&self) -> Result<Array<&MapData, ProfileCell>> {
        profile_array(&self.profile)
    }

    /// The profile table's entry 0: the default profile and how the program is attached.
    pub fn profile_cell(&self) -> Result<ProfileCell> {
        self.profile_cell_at(0)
    }

    fn profile_cell_at(&self, index: u32) -> Result<ProfileCell> {
        self.profile_array()?.get(&index, 0).context(|| format!("reading {MAP_PROFILE}"))
    }

    /// The default profile in force.
    pub fn profile(&self) -> Result<Profile> {
        Ok(*self.profile_cell()?.active())
    }

    /// The profile in force at `index` of the profile table (0: the default).
    pub fn profile_at(&self, index: u32) -> Result<Profile> {
        Ok(*self.profile_cell_at(index)?.active())
    }

    /// Every plan: its prefix and the index of its profile.
    pub fn plan_entries(&self) -> Result<Vec<(PlanPrefix, u32)>> {
        let four: LpmTrie<&MapData, [u8; 4], u32> =
            LpmTrie::try_from(&self.plans4).context(|| format!("opening {MAP_PLANS4}"))?;
        let six: LpmTrie<&MapData, [u8; 16], u32> =
            LpmTrie::try_from(&self.plans6).context(|| format!("opening {MAP_PLANS6}"))?;
        let mut out = Vec::new();
        for entry in four.iter() {
            let (key, index) = entry.context(|| format!("reading {MAP_PLANS4}"))?;
            out.push((PlanPrefix::V4(key.data(), key.prefix_len() as u8), index));
        }
        for entry in six.iter() {
            let (key, index) = entry.context(|| format!("reading {MAP_PLANS6}"))?;
            out.push((PlanPrefix::V6(key.data(), key.prefix_len() as u8), index));
        }
        out.sort();
        Ok(out)
    }

    /// Maps `prefix` to profile `index` (a new prefix only).
    pub fn insert_plan(&mut self, prefix: PlanPrefix, index: u32) -> Result<()> {
        const BPF_NOEXIST: u64 = 1;
        match prefix {
            PlanPrefix::V4(addr, len) => with_trie(&mut self.plans4, MAP_PLANS4, |trie| {
                trie.insert(&Key::new(len.into(), addr), index, BPF_NOEXIST)
            }),
            PlanPrefix::V6(addr, len) => with_trie(&mut self.plans6, MAP_PLANS6, |trie| {
                trie.insert(&Key::new(len.into(), addr), index, BPF_NOEXIST)
            }),
        }
    }

    /// Removes the plan of exactly `prefix`.
    pub fn remove_plan(&mut self, prefix: PlanPrefix) -> Result<()> {
        match prefix {
            PlanPrefix::V4(addr, len) => with_trie(&mut self.plans4, MAP_PLANS4, |trie| {
                trie.remove(&Key::new(len.into(), addr))
            }),
            PlanPrefix::V6(addr, len) => with_trie(&mut self.plans6, MAP_PLANS6, |trie| {
                trie.remove(&Key::new(len.into(), addr))
            }),
        }
    }

    /// Empties entry `index` of the profile table and zeroes its plan counters. Only for an
    /// entry no program run can reach any more: no trie entry names it, and a grace period
    /// has passed since the last one did.
    pub fn clear_profile_at(&mut self, index: u32) -> Result<()> {
        let mut array: Array<&mut MapData, ProfileCell> =
            Array::try_from(&mut self.profile).context(|| format!("opening {MAP_PROFILE}"))?;
        array.set(index, ProfileCell::default(), 0).context(|| format!("writing {MAP_PROFILE}"))?;
        let mut counts: PerCpuArray<&mut MapData, Counter> =
            PerCpuArray::try_from(&mut self.plan_counters)
                .context(|| format!("opening {MAP_PLAN_COUNTERS}"))?;
        let cpus = nr_cpus().map_err(|(_, e)| e).context(|| "counting the CPUs".to_string())?;
        for what in 0..plan_counter::PER_PLAN {
            let zeros = PerCpuValues::try_from(vec![Counter::default(); cpus])
                .context(|| format!("writing {MAP_PLAN_COUNTERS}"))?;
            counts
                .set(plan_counter::index(index, what), zeros, 0)
                .context(|| format!("writing {MAP_PLAN_COUNTERS}"))?;
        }
        Ok(())
    }

    /// The counters of the plan at profile `index` (green, yellow, red, dropped), summed
    /// over CPUs.
    pub fn plan_counters(&self, index: u32) -> Result<[Counter; plan_counter::PER_PLAN as usize]> {
        let array: PerCpuArray<&MapData, Counter> = PerCpuArray::try_from(&self.plan_counters)
            .context(|| format!("opening {MAP_PLAN_COUNTERS}"))?;
        let mut sums = [Counter::default(); plan_counter::PER_PLAN as usize];
        for (what, sum) in sums.iter_mut().enumerate() {
            let at = plan_counter::index(index, what as u32);
            *sum = summed(&array, at, MAP_PLAN_COUNTERS)?;
        }
        Ok(sums)
    }

    /// Deletes every flow kept under profile `index` (a deleted plan's), so that a plan that
    /// later takes the index starts with no state.
    pub fn purge_flows_of(&mut self, index: u32) -> Result<usize> {
        let of_plan = |profile: u16| u32::from(profile) == index;
        let mut doomed = Vec::new();
        self.for_each_slot(|at, key, _| {
            if of_plan(key.profile) {
                doomed.push(at);
            }
        })?;
        let mut states = self.slot_states()?;
        for at in &doomed {
            // A state never used (`last_ns` 0) frees the slot, whatever its key.
            let cleared = FlowState::default();
            states.set(*at, cleared, 0).context(|| format!("clearing {MAP_SLOTS4}"))?;
        }
        let in_table = remove_flows_where(&mut self.flows, MAP_FLOWS, |k| of_plan(k.profile))?;
        Ok(doomed.len() + in_table)
    }

    /// Puts `profile` in force without the kernel program ever reading a torn profile: it is
    /// written into the inactive slot first, and made active by a second write that bumps the
    /// generation (see [`ProfileCell`]). The kernel program reads the active slot in place,
    /// so before returning this waits for every program run that may still be reading the
    /// slot just retired (an RCU grace period): the next store may rewrite it. Callers
    /// serialise stores (see `Policer::set`).
    pub fn store_profile(&mut self, profile: &Profile) -> Result<()> {
        self.store_profile_at(0, profile)
    }

    /// [`Maps::store_profile`] for entry `index` of the profile table (0: the default; a
    /// plan's otherwise). An empty entry (never written, or cleared) gets the profile in
    /// both slots at once: no program run reads it yet.
    pub fn store_profile_at(&mut self, index: u32, profile: &Profile) -> Result<()> {
        let mut array: Array<&mut MapData, ProfileCell> =
            Array::try_from(&mut self.profile).context(|| format!("opening {MAP_PROFILE}"))?;
        let mut cell = array.get(&index, 0).context(|| format!("reading {MAP_PROFILE}"))?;
        if cell.layout_version == 0 {
            // A fresh entry: both slots get the profile, generation 0.
            cell = ProfileCell {
                layout_version: LAYOUT_VERSION,
                slots: [*profile; 2],
                ..ProfileCell::default()
            };
            return array.set(index, cell, 0).context(|| format!("writing {MAP_PROFILE}"));
        }
        let next = cell.generation.wrapping_add(1);
        cell.slots[(next & 1) as usize] = *profile;
        array.set(index, cell, 0).context(|| format!("writing {MAP_PROFILE}"))?;
        cell.generation = next;
        array.set(index, cell, 0).context(|| format!("writing {MAP_PROFILE}"))?;
        wait_for_readers();
        Ok(())
    }

    /// Records how the program was attached (user space only; the kernel ignores it).
    pub fn set_method(&mut self, method: &str) -> Result<()> {
        let code = match method {
            "XDP native" => attachment::XDP_NATIVE,
            "XDP generic" => attachment::XDP_GENERIC,
            "TCX" => attachment::TCX,
            crate::METHOD_CLSACT => attachment::TC_CLSACT,
            _ => attachment::UNKNOWN,
        };
        let mut array: Array<&mut MapData, ProfileCell> =
            Array::try_from(&mut self.profile).context(|| format!("opening {MAP_PROFILE}"))?;
        let mut cell = array.get(&0, 0).context(|| format!("reading {MAP_PROFILE}"))?;
        cell.attachment = code;
        array.set(0, cell, 0).context(|| format!("writing {MAP_PROFILE}"))
    }

    /// Records the cls_bpf filter of a TC attach without TCX, for `detach`.
    pub fn set_cls_bpf(&mut self, priority: u16, added_qdisc: bool) -> Result<()> {
        let mut array: Array<&mut MapData, ProfileCell> =
            Array::try_from(&mut self.profile).context(|| format!("opening {MAP_PROFILE}"))?;
        let mut cell = array.get(&0, 0).context(|| format!("reading {MAP_PROFILE}"))?;
        cell.tc_priority = priority;
        cell.tc_flags = if added_qdisc { attachment::ADDED_QDISC } else { 0 };
        array.set(0, cell, 0).context(|| format!("writing {MAP_PROFILE}"))
    }

    /// How the program was attached, as recorded by [`Maps::set_method`].
    pub fn method(&self) -> Result<&'static str> {
        Ok(match self.profile_cell()?.attachment {
            attachment::XDP_NATIVE => "XDP native",
            attachment::XDP_GENERIC => "XDP generic",
            attachment::TCX => "TCX",
            attachment::TC_CLSACT => crate::METHOD_CLSACT,
            _ => "unknown",
        })
    }

    /// One counter, CPU by CPU (a colour or outcome total added up from its parts on each
    /// CPU, as [`Maps::counters`] does over all of them).
    pub fn counter_per_cpu(&self, index: u32) -> Result<Vec<Counter>> {
        let array: PerCpuArray<&MapData, Counter> =
            PerCpuArray::try_from(&self.counters).context(|| format!("opening {MAP_COUNTERS}"))?;
        let mut sums = per_cpu(&array, index, MAP_COUNTERS)?;
        let mut parts = Vec::new();
        counter::totals(|total, part| {
            if total == index {
                parts.push(part);
            }
        });
        for part in parts {
            for (sum, value) in sums.iter_mut().zip(per_cpu(&array, part, MAP_COUNTERS)?) {
                sum.add(value);
            }
        }
        Ok(sums)
    }

    /// Counters summed over CPUs.
    pub fn counters(&self) -> Result<Counters> {
        let array: PerCpuArray<&MapData, Counter> =
            PerCpuArray::try_from(&self.counters).context(|| format!("opening {MAP_COUNTERS}"))?;
        let mut sums = Counters::default();
        for (index, sum) in sums.0.iter_mut().enumerate() {
            *sum = summed(&array, index as u32, MAP_COUNTERS)?;
        }
        counter::totals(|total, part| {
            let part = sums.0[part as usize];
            sums.0[total as usize].add(part);
        });
        Ok(sums)
    }

    /// Every flow in the tables (a flow evicted during the walk may be missing), read a few
    /// thousand at a time (BPF_MAP_LOOKUP_BATCH): a full table of a million flows in a
    /// fraction of a second.
    pub fn flows(&self) -> Result<Vec<Flow>> {
        let mut flows = Vec::new();
        self.for_each_flow(|flow| flows.push(flow))?;
        Ok(flows)
    }

    /// Calls `f` with every flow of both tables, batch by batch, holding no more than one
    /// batch in memory.
    pub fn for_each_flow(&self, mut f: impl FnMut(Flow)) -> Result<()> {
        self.for_each_slot(|_, key, state| f(Flow { key: key.widen(), state }))?;
        lookup_batch::<FlowKey, FlowState>(map_data(&self.flows)?, MAP_FLOWS, |key, state| {
            f(Flow { key, state })
        })
    }

    /// The `n` heaviest flows (most bytes; ties by key), heaviest first, in one pass over
    /// the tables that keeps a few thousand flows at most: the top 10 of a million flows
    /// costs little more than reading them.
    pub fn top_flows(&self, n: usize) -> Result<Vec<Flow>> {
        let heaviest_first =
            |a: &Flow, b: &Flow| b.state.bytes.cmp(&a.state.bytes).then(a.key.cmp(&b.key));
        let mut kept: Vec<Flow> = Vec::new();
        let limit = n.saturating_mul(2).max(4096);
        let keep_top = |kept: &mut Vec<Flow>| {
            if n < kept.len() {
                kept.select_nth_unstable_by(n, heaviest_first);
                kept.truncate(n);
            }
        };
        self.for_each_flow(|flow| {
            kept.push(flow);
            if kept.len() >= limit {
                keep_top(&mut kept);
            }
        })?;
        keep_top(&mut kept);
        kept.sort_unstable_by(heaviest_first);
        Ok(kept)
    }

    /// Writes a flow's state into its table (inserting the flow if new): for tests and tools
    /// that seed a table. The kernel program may update the same flow meanwhile; the last
    /// write wins.
    pub fn write_flow(&mut self, flow: &Flow) -> Result<()> {
        if flow.key.family == family::IPV4 {
            let key = FlowKey4::of(&flow.key);
            let keys: Array<&MapData, SlotKeys4> = Array::try_from(&self.slot_keys4)
                .context(|| format!("opening {MAP_SLOT_KEYS4}"))?;
            let set = set_of(&key, keys.len() - 1);
            let seen = keys.get(&set, 0).context(|| format!("reading {MAP_SLOT_KEYS4}"))?;
            let mut states = self.slot_states()?;
            for way in 0..SLOT_WAYS {
                let at = set * SLOT_WAYS + way;
                let state = states.get(&at, 0).context(|| format!("reading {MAP_SLOTS4}"))?;
                if seen.has(way as usize, &key) && state.in_use() {
                    return states.set(at, flow.state, 0).context(|| "writing a flow".to_string());
                }
            }
        }
        let mut table: HashMap<&mut MapData, FlowKey, FlowState> =
            HashMap::try_from(&mut self.flows).context(|| format!("opening {MAP_FLOWS}"))?;
        table.insert(flow.key, flow.state, 0).context(|| "writing a flow".to_string())
    }

    fn slot_states(&mut self) -> Result<Array<&mut MapData, FlowState>> {
        Array::try_from(&mut self.slots4).context(|| format!("opening {MAP_SLOTS4}"))
    }

    /// Calls `f` with the index, key and state of every slot in use, the keys read first and
    /// the states in batches.
    fn for_each_slot(&self, mut f: impl FnMut(u32, FlowKey4, FlowState)) -> Result<()> {
        let mut sets = Vec::new();
        lookup_batch::<u32, SlotKeys4>(map_data(&self.slot_keys4)?, MAP_SLOT_KEYS4, |_, keys| {
            sets.push(keys)
        })?;
        lookup_batch::<u32, FlowState>(map_data(&self.slots4)?, MAP_SLOTS4, |at, state| {
            let set = sets.get((at / SLOT_WAYS) as usize);
            let key = set.and_then(|set| set.keys.get((at % SLOT_WAYS) as usize));
            if let Some(key) = key.filter(|_| state.in_use()) {
                f(at, *key, state)
            }
        })
    }

    /// Number of flows in the tables.
    pub fn flow_count(&self) -> Result<usize> {
        let mut count = 0;
        self.for_each_flow(|_| count += 1)?;
        Ok(count)
    }

    /// Capacity of the LRU flow table: `--max-flows` (the slot table has the power of two
    /// at or above it).
    pub fn max_flows(&self) -> Result<u32> {
        let info = map_data(&self.flows)?.info();
        Ok(info.context(|| format!("reading {MAP_FLOWS}"))?.max_entries())
    }

    /// IPv4 flows in the slot table (the others are in the LRU table).
    pub fn slots_in_use(&self) -> Result<usize> {
        let mut count = 0;
        self.for_each_slot(|_, _, _| count += 1)?;
        Ok(count)
    }

    /// Flows the tables hold at most: the slots (IPv4) and the LRU table's entries.
    pub fn flow_capacity(&self) -> Result<u64> {
        let info = map_data(&self.slots4)?.info();
        let slots = info.context(|| format!("reading {MAP_SLOTS4}"))?.max_entries();
        Ok(u64::from(slots) + u64::from(self.max_flows()?))
    }

    /// Kernel memory held by the maps, bytes (as `bpftool map show` reports it).
    pub fn memory_bytes(&self) -> Result<u64> {
        let mut total = 0;
        for (name, map) in self.named() {
            total += memlock(map_data(map)?).context(|| format!("reading the size of {name}"))?;
        }
        Ok(total)
    }
}

/// Entry `index` of a per-CPU counters map, summed over CPUs.
fn summed(array: &PerCpuArray<&MapData, Counter>, index: u32, name: &str) -> Result<Counter> {
    let mut sum = Counter::default();
    for value in per_cpu(array, index, name)? {
        sum.add(value);
    }
    Ok(sum)
}

/// Counter `index` of a per-CPU counter map, CPU by CPU.
fn per_cpu(array: &PerCpuArray<&MapData, Counter>, index: u32, name: &str) -> Result<Vec<Counter>> {
    let values = array.get(&index, 0).context(|| format!("reading {name}"))?;
    Ok(values.iter().copied().collect())
}

/// Runs `f` on a plan trie of `N`-byte addresses (4: IPv4, 16: IPv6).
fn with_trie<const N: usize>(
    map: &mut Map,
    name: &str,
    f: impl FnOnce(&mut LpmTrie<&mut MapData, [u8; N], u32>) -> std::result::Result<(), MapError>,
) -> Result<()> {
    let mut trie: LpmTrie<&mut MapData, [u8; N], u32> =
        LpmTrie::try_from(map).context(|| format!("opening {name}"))?;
    f(&mut trie).context(|| format!("writing {name}"))
}

/// Deletes the flows of a flow table whose key `doomed` picks; returns how many went (a
/// flow evicted meanwhile is not counted). The keys are read in batches, as `flows` reads.
fn remove_flows_where(
    map: &mut Map,
    name: &str,
    doomed: impl Fn(&FlowKey) -> bool,
) -> Result<usize> {
    let mut keys = Vec::new();
    lookup_batch::<FlowKey, FlowState>(map_data(map)?, name, |key, _| {
        if doomed(&key) {
            keys.push(key);
        }
    })?;
    let mut table: HashMap<&mut MapData, FlowKey, FlowState> =
        HashMap::try_from(map).context(|| format!("opening {name}"))?;
    Ok(keys.iter().filter(|key| table.remove(key).is_ok()).count())
}

fn profile_array(map: &Map) -> Result<Array<&MapData, ProfileCell>> {
    Array::try_from(map).context(|| format!("opening {MAP_PROFILE}"))
}

fn map_data(map: &Map) -> Result<&MapData> {
    match map {
        Map::LruHashMap(data)
        | Map::HashMap(data)
        | Map::PerCpuArray(data)
        | Map::Array(data)
        | Map::LpmTrie(data)
        | Map::PerCpuHashMap(data) => Ok(data),
        _ => Err(Error::Bpf {
            context: "a policer map of an unexpected type".into(),
            source: "unexpected map type".into(),
        }),
    }
}

/// The kernel's figure of a map's memory, from its file descriptor's fdinfo.
fn memlock(map: &MapData) -> std::io::Result<u64> {
    let fd = map.fd().as_fd().as_raw_fd();
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}"))?;
    info.lines()
        .find_map(|line| line.strip_prefix("memlock:")?.trim().parse().ok())
        .ok_or_else(|| std::io::Error::other("no memlock line in fdinfo"))
}

/// `union bpf_attr` for BPF_MAP_LOOKUP_BATCH (uapi linux/bpf.h, "struct used by
/// BPF_MAP_*_BATCH commands").
#[repr(C)]
#[derive(Default)]
struct BatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

const BPF_MAP_LOOKUP_BATCH: libc::c_long = 24;
/// Entries asked for per call: more than any one hash bucket holds (the kernel refuses a
/// batch smaller than the bucket it stopped at, with ENOSPC).
const BATCH: usize = 4096;

/// Calls `f` with every entry of a hash or array map of `K` keys and `V` values, in batches.
fn lookup_batch<K: aya::Pod + Default, V: aya::Pod + Default>(
    map: &MapData,
    name: &str,
    mut f: impl FnMut(K, V),
) -> Result<()> {
    let mut keys = vec![K::default(); BATCH];
    let mut values = vec![V::default(); BATCH];
    // A hash map's batch position is a bucket index (u32), an array's an index.
    let (mut position, mut next) = (0u32, 0u32);
    let mut first = true;
    loop {
        let mut attr = BatchAttr {
            in_batch: if first { 0 } else { &raw const position as u64 },
            out_batch: &raw mut next as u64,
            keys: keys.as_mut_ptr() as u64,
            values: values.as_mut_ptr() as u64,
            count: BATCH as u32,
            map_fd: map.fd().as_fd().as_raw_fd() as u32,
            ..BatchAttr::default()
        };
        // SAFETY: `attr` points to buffers of BATCH keys and values of the map's key and
        // value sizes, and to two u32 positions, all alive across the call.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_MAP_LOOKUP_BATCH,
                &raw mut attr,
                size_of::<BatchAttr>() as u32,
            )
        };
        let error = (rc < 0).then(std::io::Error::last_os_error);
        let done = match &error {
            None => false,
            Some(e) if e.raw_os_error() == Some(libc::ENOENT) => true,
            Some(e) => {
                return Err(Error::Bpf {
                    context: format!("reading {name}"),
                    source: e.to_string().into(),
                });
            }
        };
        let filled = attr.count as usize;
        for (key, state) in keys[..filled].iter().zip(&values[..filled]) {
            f(*key, *state);
        }
        if done {
            return Ok(());
        }
        position = next;
        first = false;
    }
}

/// Waits until every BPF program run that started before the call has ended: XDP and TC
/// programs run inside RCU read-side sections (softirq or bottom halves off), and
/// `membarrier(MEMBARRIER_CMD_GLOBAL)` returns after an RCU grace period. Kernels built
/// with `nohz_full` refuse that command; there, a pause a thousand times longer than any
/// program run stands in for it.
pub(crate) fn wait_for_readers() {
    const MEMBARRIER_CMD_GLOBAL: libc::c_int = 1;
    // SAFETY: membarrier takes no pointers; it only waits.
    let waited = unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) } == 0;
    if !waited {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
