//! Typed access to the policer's maps, whether just loaded or opened from their pins.

use std::path::Path;

use aya::{
    Ebpf,
    maps::{Array, HashMap, Map, MapData, PerCpuArray},
};
use policer_common::{
    Counter, FlowKey, FlowState, LAYOUT_VERSION, MAP_COUNTERS, MAP_FLOWS, MAP_PROFILE, Profile,
    ProfileCell, attachment, counter,
};

use crate::error::{Context as _, Error, Result};

/// The maps of one policer that user space reads or writes, and pins.
pub struct Maps {
    profile: Map,
    flows: Map,
    counters: Map,
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
            flows: take(MAP_FLOWS)?,
            counters: take(MAP_COUNTERS)?,
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
        let maps = Maps {
            profile: open(MAP_PROFILE)?,
            flows: open(MAP_FLOWS)?,
            counters: open(MAP_COUNTERS)?,
        };
        let found = maps.profile_cell()?.layout_version;
        if found != LAYOUT_VERSION {
            return Err(Error::IncompatibleLayout {
                path: dir.to_path_buf(),
                found,
                expected: LAYOUT_VERSION,
            });
        }
        Ok(maps)
    }

    /// Pins every map into `dir`.
    pub fn pin(&self, dir: &Path) -> Result<()> {
        for (name, map) in
            [(MAP_PROFILE, &self.profile), (MAP_FLOWS, &self.flows), (MAP_COUNTERS, &self.counters)]
        {
            let path = dir.join(name);
            map.pin(&path).context(|| format!("pinning {}", path.display()))?;
        }
        Ok(())
    }

    fn profile_array(&self) -> Result<Array<&MapData, ProfileCell>> {
        Array::try_from(&self.profile).context(|| format!("opening {MAP_PROFILE}"))
    }

    /// The profile map's single entry.
    pub fn profile_cell(&self) -> Result<ProfileCell> {
        self.profile_array()?.get(&0, 0).context(|| format!("reading {MAP_PROFILE}"))
    }

    /// The profile in force.
    pub fn profile(&self) -> Result<Profile> {
        Ok(*self.profile_cell()?.active())
    }

    /// Puts `profile` in force without the kernel program ever reading a torn profile: it is
    /// written into the inactive slot first, and made active by a second write that bumps the
    /// generation (see [`ProfileCell`]). The kernel program reads the active slot in place,
    /// so before returning this waits for every program run that may still be reading the
    /// slot just retired (an RCU grace period): the next store may rewrite it. Callers
    /// serialise stores (see `Policer::set`).
    pub fn store_profile(&mut self, profile: &Profile) -> Result<()> {
        let mut array: Array<&mut MapData, ProfileCell> =
            Array::try_from(&mut self.profile).context(|| format!("opening {MAP_PROFILE}"))?;
        let mut cell = array.get(&0, 0).context(|| format!("reading {MAP_PROFILE}"))?;
        if cell.layout_version == 0 {
            // A fresh map: both slots get the profile, generation 0.
            cell = ProfileCell {
                layout_version: LAYOUT_VERSION,
                slots: [*profile; 2],
                ..ProfileCell::default()
            };
            return array.set(0, cell, 0).context(|| format!("writing {MAP_PROFILE}"));
        }
        let next = cell.generation.wrapping_add(1);
        cell.slots[(next & 1) as usize] = *profile;
        array.set(0, cell, 0).context(|| format!("writing {MAP_PROFILE}"))?;
        cell.generation = next;
        array.set(0, cell, 0).context(|| format!("writing {MAP_PROFILE}"))?;
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

    /// One counter, CPU by CPU.
    pub fn counter_per_cpu(&self, index: u32) -> Result<Vec<Counter>> {
        let array: PerCpuArray<&MapData, Counter> =
            PerCpuArray::try_from(&self.counters).context(|| format!("opening {MAP_COUNTERS}"))?;
        let values = array.get(&index, 0).context(|| format!("reading {MAP_COUNTERS}"))?;
        Ok(values.iter().copied().collect())
    }

    /// Counters summed over CPUs.
    pub fn counters(&self) -> Result<Counters> {
        let array: PerCpuArray<&MapData, Counter> =
            PerCpuArray::try_from(&self.counters).context(|| format!("opening {MAP_COUNTERS}"))?;
        let mut sums = Counters::default();
        for (index, sum) in sums.0.iter_mut().enumerate() {
            let per_cpu =
                array.get(&(index as u32), 0).context(|| format!("reading {MAP_COUNTERS}"))?;
            for value in per_cpu.iter() {
                sum.packets += value.packets;
                sum.bytes += value.bytes;
            }
        }
        Ok(sums)
    }

    fn flow_table(&self) -> Result<HashMap<&MapData, FlowKey, FlowState>> {
        HashMap::try_from(&self.flows).context(|| format!("opening {MAP_FLOWS}"))
    }

    /// Every flow in the table (a flow evicted during the walk may be missing).
    pub fn flows(&self) -> Result<Vec<Flow>> {
        let table = self.flow_table()?;
        let mut flows = Vec::new();
        for entry in table.iter() {
            match entry {
                Ok((key, state)) => flows.push(Flow { key, state }),
                // Evicted between listing its key and reading it.
                Err(aya::maps::MapError::KeyNotFound) => {}
                Err(e) => return Err(e).context(|| format!("reading {MAP_FLOWS}")),
            }
        }
        Ok(flows)
    }

    /// Number of flows in the table.
    pub fn flow_count(&self) -> Result<usize> {
        Ok(self.flow_table()?.keys().filter(|key| key.is_ok()).count())
    }

    /// Capacity of the flow table.
    pub fn max_flows(&self) -> Result<u32> {
        let info = match &self.flows {
            Map::LruHashMap(data) | Map::HashMap(data) => data.info(),
            _ => return Ok(0),
        };
        Ok(info.context(|| format!("reading {MAP_FLOWS}"))?.max_entries())
    }
}

/// Waits until every BPF program run that started before the call has ended: XDP and TC
/// programs run inside RCU read-side sections (softirq or bottom halves off), and
/// `membarrier(MEMBARRIER_CMD_GLOBAL)` returns after an RCU grace period. Kernels built
/// with `nohz_full` refuse that command; there, a pause a thousand times longer than any
/// program run stands in for it.
fn wait_for_readers() {
    const MEMBARRIER_CMD_GLOBAL: libc::c_int = 1;
    // SAFETY: membarrier takes no pointers; it only waits.
    let waited = unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) } == 0;
    if !waited {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
