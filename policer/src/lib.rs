//! policer: per-flow TCP-friendly policing in the kernel with XDP.
//!
//! The library does everything the CLI does; the CLI only parses arguments and prints.
//!
//! ```no_run
//! use policer::{AttachOptions, Policer, netdev::Interface, profile::ProfileRequest};
//! let iface = Interface::find("eth0")?;
//! let request = ProfileRequest { cir_bits: Some(1_000_000), ..Default::default() };
//! let profile = request.resolve_new(iface.max_frame_bytes())?;
//! let attached = Policer::attach(&iface, &AttachOptions::new(profile))?;
//! println!("{:?}", attached.policer.counters()?);
//! # Ok::<(), policer::Error>(())
//! ```

pub mod apply;
pub mod config;
pub mod error;
pub mod keys;
mod loaded;
pub mod maps;
pub mod metrics;
pub mod netdev;
mod netlink;
pub mod pins;
pub mod plans;
pub mod plot;
pub mod profile;
pub mod simulate;
pub mod top;
pub mod units;

use std::{
    fs,
    os::fd::AsRawFd as _,
    path::{Path, PathBuf},
};

use aya::programs::{
    Link as _, LinkOrder, SchedClassifier, TcAttachType, Xdp, XdpMode,
    links::{FdLink, PinnedLink},
    tc::{self, NlOptions, SchedClassifierLink, TcAttachOptions, TcHandle},
};
use policer_common::{DEFAULT_MAX_FLOWS, PROG_TC, Profile, attachment};

use crate::{
    error::Context as _,
    maps::{Counters, Flow, Maps},
    netdev::Interface,
};
pub use crate::{
    error::{Error, Result},
    loaded::{Loaded, ProgramKind},
};

/// The kernel program, built by build.rs from policer-ebpf.
pub(crate) static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(env!("POLICER_EBPF_OBJECT"));

/// The compiled eBPF object (both programs and their maps), for tools and tests that load it
/// themselves.
pub fn ebpf_object() -> &'static [u8] {
    EBPF_OBJECT
}

/// The cost benchmark's anchors: the per-flow buckets a C author writes first (with and
/// without a lock) and a bare `XDP_DROP`, built like the kernel program. Never attached by
/// the product.
pub fn bench_anchors_object() -> &'static [u8] {
    aya::include_bytes_aligned!(env!("POLICER_ANCHORS_OBJECT"))
}

/// Which XDP mode to attach in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum XdpModeChoice {
    /// Native (driver) mode where the driver has it, else generic.
    #[default]
    Auto,
    Native,
    Generic,
}

/// Which way the policed packets go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Direction {
    #[default]
    Ingress,
    Egress,
}

impl Direction {
    pub const ALL: [Direction; 2] = [Direction::Ingress, Direction::Egress];

    pub const fn name(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

/// Where the program hooks in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    /// XDP (ingress only), in the given mode.
    Xdp(XdpModeChoice),
    /// TC: through a TCX link (Linux 6.6 and later), else a cls_bpf filter on a clsact
    /// qdisc.
    Tc,
}

/// What `attach` sets up.
#[derive(Clone, Debug)]
pub struct AttachOptions {
    pub profile: Profile,
    pub max_flows: u32,
    pub hook: Hook,
    pub direction: Direction,
}

impl AttachOptions {
    /// XDP on ingress, 65,536 flows.
    pub fn new(profile: Profile) -> Self {
        Self {
            profile,
            max_flows: DEFAULT_MAX_FLOWS,
            hook: Hook::Xdp(XdpModeChoice::Auto),
            direction: Direction::Ingress,
        }
    }
}

/// A policer attached to an interface in one direction, opened from its pins.
pub struct Policer {
    iface: String,
    direction: Direction,
    dir: PathBuf,
    maps: Maps,
}

/// The result of an attach.
pub struct Attached {
    pub policer: Policer,
    /// How the program was attached: "XDP native", "XDP generic", "TCX" or
    /// "TC (clsact, cls_bpf)".
    pub method: &'static str,
    /// Leftovers of interrupted attaches that were removed first.
    pub removed_stale: Vec<PathBuf>,
}

/// Removes a partly built pin directory unless the attach completed.
struct PartialGuard(Option<PathBuf>);

impl Drop for PartialGuard {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            let _ = pins::remove_dir(&dir);
        }
    }
}

impl Policer {
    /// Loads the program, attaches it to `iface` and pins link and maps, so the policer keeps
    /// running after this process exits. Refuses (changing nothing) when the interface already
    /// has a policer in that direction, or, for XDP, anyone else's XDP program. TC programs
    /// are added with a TCX link beside whatever else is there, which is left alone (without
    /// TCX: a cls_bpf filter of a priority of its own on the clsact qdisc).
    pub fn attach(iface: &Interface, opts: &AttachOptions) -> Result<Attached> {
        if opts.hook != Hook::Tc && opts.direction == Direction::Egress {
            return Err(Error::XdpEgress);
        }
        pins::require_root("policer attach")?;
        pins::ensure_root()?;
        check_layout(&iface.name)?;
        let dir = pins::dir(&iface.name, opts.direction);
        if pins::is_complete(&dir) {
            return Err(Error::AlreadyAttached {
                iface: iface.name.clone(),
                direction: opts.direction.name(),
            });
        }
        let mut removed_stale = pins::stale_partials(&iface.name);
        if dir.exists() {
            // Map pins without a link: an attach that died before it finished.
            removed_stale.push(dir.clone());
        }
        for stale in &removed_stale {
            pins::remove_dir(stale)?;
        }
        if opts.hook == Hook::Tc {
            // A cls_bpf filter outlives the process that added it: one of an attach that
            // died before it completed is still there, running a program of ours.
            remove_orphan_filters(&iface.name, opts.direction)?;
        }
        if let (Hook::Xdp(_), Some((prog_id, name))) = (opts.hook, iface.attached_xdp()?) {
            let name = if name.is_empty() { name } else { format!(", {name}") };
            return Err(Error::ForeignXdp { iface: iface.name.clone(), prog_id, name });
        }

        let kind = match opts.hook {
            Hook::Xdp(_) => ProgramKind::Xdp,
            Hook::Tc => ProgramKind::Tc,
        };
        let mut loaded = Loaded::load(&opts.profile, opts.max_flows, kind)?;
        fault_point("after-load");
        let mut attachment = match opts.hook {
            Hook::Xdp(mode) => {
                let (link, method) = attach_xdp(loaded.xdp()?, iface, mode)?;
                Attachment::Link(link, method)
            }
            Hook::Tc => attach_tc(loaded.tc()?, iface, opts.direction)?,
        };
        if let Attachment::Filter { cls, .. } = &mut attachment {
            // A qdisc that our policer on the other side added is this one's as much:
            // whichever of the two is detached last removes it.
            cls.added_qdisc |= other_side_added_qdisc(&iface.name, opts.direction);
        }
        let method = attachment.method();
        let (link, filter) = match attachment {
            Attachment::Link(link, _) => (Some(link), None),
            Attachment::Filter { link, cls } => (None, Some((link, cls))),
        };
        let finished = Self::finish_attach(
            iface,
            opts,
            &mut loaded,
            method,
            link,
            filter.as_ref().map(|f| f.1),
        );
        if let Err(e) = finished {
            if let Some((link, cls)) = filter {
                // The filter goes with its link; then the qdisc, if this attach added it.
                drop(link);
                if cls.added_qdisc {
                    let _ = netlink::delete_clsact_if_empty(iface.index);
                }
            }
            return Err(e);
        }
        if let Some((link, _)) = filter {
            // The filter must outlive this process, which dropping the link would prevent
            // (it detaches on drop): `detach` removes it, as recorded in the profile map.
            std::mem::forget(link);
        }
        let policer = Policer {
            iface: iface.name.clone(),
            direction: opts.direction,
            dir,
            maps: loaded.maps,
        };
        Ok(Attached { policer, method, removed_stale })
    }

    /// The rest of `attach` once the program is attached: record how, pin the maps, and
    /// last the link (or, for a cls_bpf filter, the program as the mark of a whole policer).
    fn finish_attach(
        iface: &Interface,
        opts: &AttachOptions,
        loaded: &mut Loaded,
        method: &str,
        link: Option<FdLink>,
        cls_bpf: Option<ClsBpf>,
    ) -> Result<()> {
        loaded.maps.set_method(method)?;
        if let Some(cls) = cls_bpf {
            loaded.maps.set_cls_bpf(cls.priority, cls.added_qdisc)?;
        }
        let dir = pins::dir(&iface.name, opts.direction);

        fault_point("after-attach");

        // Pins go up in an order that leaves no policer half made: the maps in a temporary
        // directory, renamed into place, then the link, last. The pinned link is what makes a
        // policer (`open` and `list` look for it). Until it is pinned, the program is held
        // only by this process's link descriptor: if the process dies, the kernel detaches
        // the program, and what is left (map pins without a link) is removed by the next
        // `attach` or `detach` of the interface. A cls_bpf filter (no TCX) is no link and
        // stays when the process dies: its mark is the program's pin, made last, and the
        // next `attach` or `detach` removes a filter of ours that has no mark.
        let partial = pins::partial_dir(&iface.name, opts.direction);
        pins::create_private_dir(&partial)?;
        let mut guard = PartialGuard(Some(partial.clone()));
        loaded.maps.pin(&partial)?;
        fault_point("after-pin-maps");
        let iface_dir = pins::iface_dir(&iface.name);
        if !iface_dir.exists() {
            pins::create_private_dir(&iface_dir)?;
        }
        fs::rename(&partial, &dir)
            .context(|| format!("renaming {} to {}", partial.display(), dir.display()))?;
        guard.0 = Some(dir.clone());
        fault_point("after-rename");
        match link {
            Some(link) => {
                let link_pin = dir.join(pins::LINK);
                link.pin(&link_pin).context(|| format!("pinning {}", link_pin.display()))?;
            }
            None => {
                let filter_pin = dir.join(pins::FILTER);
                loaded
                    .tc()?
                    .pin(&filter_pin)
                    .context(|| format!("pinning {}", filter_pin.display()))?;
            }
        }
        guard.0 = None;
        Ok(())
    }

    /// Opens the policer of `iface` in `direction`; without a direction, the interface's
    /// only policer (an error if it has one on each side).
    pub fn open(iface: &str, direction: Option<Direction>) -> Result<Policer> {
        pins::require_root("policer")?;
        pins::require_bpffs()?;
        check_layout(iface)?;
        let direction = match (direction, pins::attached_directions(iface).as_slice()) {
            (Some(direction), attached) if attached.contains(&direction) => direction,
            (Some(direction), _) => {
                return Err(Error::NotAttachedIn {
                    iface: iface.to_string(),
                    direction: direction.name(),
                });
            }
            (None, [only]) => *only,
            (None, []) => return Err(Error::NotAttached(iface.to_string())),
            (None, _) => return Err(Error::AmbiguousDirection(iface.to_string())),
        };
        let dir = pins::dir(iface, direction);
        let maps = Maps::open(&dir)?;
        Ok(Policer { iface: iface.to_string(), direction, dir, maps })
    }

    /// Every policer, opened, by interface and direction; policers pinned by an
    /// incompatible version (another layout) are returned apart, as their errors, so that
    /// one of them does not hide the others.
    pub fn list_all() -> Result<(Vec<Policer>, Vec<Error>)> {
        pins::require_root("policer list")?;
        pins::require_bpffs()?;
        let (mut policers, mut foreign) = (Vec::new(), Vec::new());
        for iface in pins::attached_interfaces()? {
            for direction in pins::attached_directions(&iface) {
                match Policer::open(&iface, Some(direction)) {
                    Ok(policer) => policers.push(policer),
                    Err(e @ Error::IncompatibleLayout { .. }) => foreign.push(e),
                    // Detached while we looked (its link goes first): not a policer now.
                    Err(_) if !pins::is_complete(&pins::dir(&iface, direction)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok((policers, foreign))
    }

    /// Every policer, opened, by interface and direction (those of another layout left out:
    /// see [`Policer::list_all`]).
    pub fn list() -> Result<Vec<Policer>> {
        Ok(Policer::list_all()?.0)
    }

    pub fn interface(&self) -> &str {
        &self.iface
    }

    pub fn direction(&self) -> Direction {
        self.direction
    }

    pub fn pin_dir(&self) -> &Path {
        &self.dir
    }

    /// How the program is attached: "XDP native", "XDP generic", "TCX" or
    /// "TC (clsact, cls_bpf)".
    pub fn method(&self) -> Result<&'static str> {
        self.maps.method()
    }

    pub fn profile(&self) -> Result<Profile> {
        self.maps.profile()
    }

    /// The id of the attached program, read from the pinned link (or program).
    pub fn program_id(&self) -> Result<u32> {
        let filter = self.dir.join(pins::FILTER);
        if filter.exists() {
            let program = SchedClassifier::from_pin(&filter)
                .context(|| format!("opening {}", filter.display()))?;
            let info = program.info().context(|| format!("reading {}", filter.display()))?;
            return Ok(info.id());
        }
        let path = self.dir.join(pins::LINK);
        let link = PinnedLink::from_pin(&path).context(|| format!("opening {}", path.display()))?;
        let info = FdLink::from(link).info().context(|| format!("reading {}", path.display()))?;
        Ok(info.program_id())
    }

    /// Puts a new profile in force, live: flows keep their state, the program is not reloaded.
    pub fn set(&mut self, profile: &Profile) -> Result<()> {
        // Serialise concurrent `set`s: the two-slot profile tolerates one writer at a time.
        let dir =
            fs::File::open(&self.dir).context(|| format!("opening {}", self.dir.display()))?;
        // SAFETY: flock on a valid, open file descriptor; the lock is released when `dir`
        // is closed at the end of this function.
        if unsafe { libc::flock(dir.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error())
                .context(|| format!("locking {}", self.dir.display()));
        }
        // The plans' count and match are the plans' business, read under the lock.
        let current = self.maps.profile()?;
        let profile = Profile { plans: current.plans, plan_match: current.plan_match, ..*profile };
        self.maps.store_profile(&profile)
    }

    pub fn counters(&self) -> Result<Counters> {
        self.maps.counters()
    }

    /// One counter (an index of `policer_common::counter`), CPU by CPU.
    pub fn counter_per_cpu(&self, index: u32) -> Result<Vec<policer_common::Counter>> {
        self.maps.counter_per_cpu(index)
    }

    /// Flows, heaviest (most bytes) first.
    pub fn flows(&self) -> Result<Vec<Flow>> {
        self.top_flows(usize::MAX)
    }

    /// The `n` heaviest flows (most bytes), heaviest first: the rest are set aside in linear
    /// time before the sort, so the top 10 of a million flows costs little more than reading
    /// them.
    pub fn top_flows(&self, n: usize) -> Result<Vec<Flow>> {
        self.maps.top_flows(n)
    }

    /// Kernel memory held by the policer's maps, bytes.
    pub fn memory_bytes(&self) -> Result<u64> {
        self.maps.memory_bytes()
    }

    pub fn flow_count(&self) -> Result<usize> {
        self.maps.flow_count()
    }

    /// `--max-flows`: the LRU table's size.
    pub fn max_flows(&self) -> Result<u32> {
        self.maps.max_flows()
    }

    /// Flows the tables hold at most (IPv4 slots and the LRU table).
    pub fn flow_capacity(&self) -> Result<u64> {
        self.maps.flow_capacity()
    }

    /// Detaches the policer of `iface` in `direction` (without one: every policer of
    /// `iface`) and removes its pins; afterwards nothing of it is left. Works also when the
    /// interface is gone (the kernel already detached the program then), and on pins of
    /// layout 1.
    pub fn detach(iface: &str, direction: Option<Direction>) -> Result<()> {
        pins::require_root("policer detach")?;
        pins::require_bpffs()?;
        let mut stale = pins::stale_partials(iface);
        // Map pins without a link, left by an attach that died before it finished.
        stale.extend(pins::leftover_dirs(iface));
        let attached = pins::attached_directions(iface);
        let layout_1 = pins::has_layout_1(iface);
        // Filters of ours on hooks with no policer: an attach died before its end.
        let mut orphans = false;
        for d in Direction::ALL {
            if direction.is_none_or(|wanted| wanted == d) && !attached.contains(&d) {
                orphans |= remove_orphan_filters(iface, d)?;
            }
        }
        let targets: Vec<Direction> = match direction {
            Some(direction) if attached.contains(&direction) => vec![direction],
            Some(direction) if stale.is_empty() && !orphans => {
                return Err(Error::NotAttachedIn {
                    iface: iface.to_string(),
                    direction: direction.name(),
                });
            }
            Some(_) => Vec::new(),
            None if attached.is_empty() && stale.is_empty() && !layout_1 && !orphans => {
                return Err(Error::NotAttached(iface.to_string()));
            }
            None => attached,
        };
        for partial in stale {
            pins::remove_dir(&partial)?;
        }
        let mut remove_qdisc = false;
        for &direction in &targets {
            let dir = pins::dir(iface, direction);
            if dir.join(pins::FILTER).exists() {
                // Unpinning does not remove a filter: delete it, as recorded at attach.
                let cell = Maps::open(&dir)?.profile_cell()?;
                remove_filter(iface, direction, cell.tc_priority)?;
                remove_qdisc |= cell.tc_flags & attachment::ADDED_QDISC != 0;
            }
            pins::remove_dir(&dir)?;
        }
        if remove_qdisc {
            // Ours, and used by nothing else any more (a filter of someone else, or of our
            // policer on the other side, keeps it).
            if let Ok(index) = netdev::Interface::find(iface).map(|i| i.index) {
                netlink::delete_clsact_if_empty(index)?;
            }
        }
        if layout_1 && direction.is_none() {
            pins::remove_dir(&pins::iface_dir(iface))?;
        }
        pins::remove_iface_dir_if_empty(iface);
        Ok(())
    }
}

/// For the fault tests: `POLICER_FAULT=<point>` makes `attach` die at that point, as if
/// killed (no destructor runs), to check that what is left is a whole policer or nothing.
fn fault_point(point: &str) {
    if std::env::var_os("POLICER_FAULT").is_some_and(|fault| fault == point) {
        eprintln!("policer: POLICER_FAULT={point}: dying here");
        std::process::abort();
    }
}

/// Refuses pins of layout 1 (no direction level), saying what to do.
fn check_layout(iface: &str) -> Result<()> {
    if pins::has_layout_1(iface) {
        return Err(Error::Layout1 { path: pins::iface_dir(iface), iface: iface.to_string() });
    }
    Ok(())
}

/// How `attach` hooked the program in.
enum Attachment {
    /// A bpf_link (XDP, TCX), pinned last; the name of the method.
    Link(FdLink, &'static str),
    /// A cls_bpf filter on a clsact qdisc (TC where TCX is missing). Dropping the link
    /// removes the filter: what an attach that fails does.
    Filter { link: SchedClassifierLink, cls: ClsBpf },
}

/// A cls_bpf filter of ours: its priority (its handle is `attachment::CLS_BPF_HANDLE`),
/// and whether the attach added the clsact qdisc it sits on.
#[derive(Clone, Copy, Debug)]
struct ClsBpf {
    priority: u16,
    added_qdisc: bool,
}

/// What `attach` and `list` print for a cls_bpf filter.
pub const METHOD_CLSACT: &str = "TC (clsact, cls_bpf)";

impl Attachment {
    fn method(&self) -> &'static str {
        match self {
            Attachment::Link(_, method) => method,
            Attachment::Filter { .. } => METHOD_CLSACT,
        }
    }
}

fn tc_attach_type(direction: Direction) -> TcAttachType {
    match direction {
        Direction::Ingress => TcAttachType::Ingress,
        Direction::Egress => TcAttachType::Egress,
    }
}

/// Attaches a TC program with a TCX link (Linux 6.6 and later), which coexists with every
/// other TC program and qdisc and removes none of them. Where the kernel has no TCX, a
/// cls_bpf filter of a priority of its own on the clsact qdisc (added if missing) does the
/// same. `POLICER_TC=clsact` skips TCX, for tests of that path on a kernel with TCX.
fn attach_tc(
    program: &mut SchedClassifier,
    iface: &Interface,
    direction: Direction,
) -> Result<Attachment> {
    let attach_type = tc_attach_type(direction);
    let force_clsact = std::env::var_os("POLICER_TC").is_some_and(|api| api == "clsact");
    let tcx_error = if force_clsact {
        None
    } else {
        let tcx = TcAttachOptions::TcxOrder(LinkOrder::default());
        match program.attach_with_options(&iface.name, attach_type, tcx) {
            Ok(link_id) => {
                let link = program.take_link(link_id).context(|| "taking the TC link".into())?;
                let link = FdLink::try_from(link).map_err(|e| Error::Bpf {
                    context: format!("the TC attach to {} made no bpf_link to pin", iface.name),
                    source: Box::new(e),
                })?;
                return Ok(Attachment::Link(link, "TCX"));
            }
            // Kernels before 6.6 know no TCX attach type: EINVAL. Anything else is an error
            // the fallback would only hide.
            Err(e) if os_error(&e) == Some(libc::EINVAL) => Some(e),
            Err(e) => {
                return Err(e).context(|| {
                    format!("attaching TC to {} {} through TCX", iface.name, direction.name())
                });
            }
        }
    };
    let with_tcx_error = |what: String| match &tcx_error {
        Some(e) => format!("{what} (TCX, tried first, failed too: {e})"),
        None => what,
    };
    let added_qdisc = match tc::qdisc_add_clsact(&iface.name) {
        Ok(()) => true,
        Err(tc::TcError::NetlinkError(e)) if e.raw_os_error() == Some(libc::EEXIST) => false,
        Err(e) => {
            return Err(e)
                .context(|| with_tcx_error(format!("adding a clsact qdisc to {}", iface.name)));
        }
    };
    let options = TcAttachOptions::Netlink(NlOptions {
        // 0: the kernel picks a free priority, before every existing filter's.
        priority: 0,
        handle: TcHandle::from(attachment::CLS_BPF_HANDLE),
        classid: None,
    });
    let attached = program
        .attach_with_options(&iface.name, attach_type, options)
        .and_then(|link_id| program.take_link(link_id))
        .and_then(|link| Ok((link.priority()?, link)));
    match attached {
        Ok((priority, link)) => {
            Ok(Attachment::Filter { link, cls: ClsBpf { priority, added_qdisc } })
        }
        Err(e) => {
            if added_qdisc {
                let _ = netlink::delete_clsact_if_empty(iface.index);
            }
            Err(e).context(|| {
                with_tcx_error(format!(
                    "attaching TC to {} {} as a cls_bpf filter",
                    iface.name,
                    direction.name()
                ))
            })
        }
    }
}

/// Whether the policer of `iface` on the side opposite `direction` is a cls_bpf filter on a
/// clsact qdisc that its attach added.
fn other_side_added_qdisc(iface: &str, direction: Direction) -> bool {
    let other = match direction {
        Direction::Ingress => Direction::Egress,
        Direction::Egress => Direction::Ingress,
    };
    let dir = pins::dir(iface, other);
    dir.join(pins::FILTER).exists()
        && Maps::open(&dir)
            .and_then(|maps| maps.profile_cell())
            .is_ok_and(|cell| cell.tc_flags & attachment::ADDED_QDISC != 0)
}

/// The errno under an aya program error, where there is one.
fn os_error(error: &aya::programs::ProgramError) -> Option<i32> {
    use aya::programs::ProgramError;
    match error {
        ProgramError::SyscallError(e) => e.io_error.raw_os_error(),
        ProgramError::TcError(tc::TcError::NetlinkError(e)) => e.raw_os_error(),
        _ => None,
    }
}

/// Deletes our cls_bpf filter of `iface` in `direction`, found by the priority recorded at
/// attach. Gone already (with its interface, or by hand) is fine.
fn remove_filter(iface: &str, direction: Direction, priority: u16) -> Result<()> {
    let Ok(link) = SchedClassifierLink::attached(
        iface,
        tc_attach_type(direction),
        priority,
        TcHandle::from(attachment::CLS_BPF_HANDLE),
        None,
    ) else {
        // No such interface: its filters went with it.
        return Ok(());
    };
    match link.detach() {
        Ok(()) => Ok(()),
        Err(e) if matches!(os_error(&e), Some(libc::ENOENT | libc::ENODEV | libc::EINVAL)) => {
            Ok(())
        }
        Err(e) => Err(e).context(|| {
            format!("removing the TC filter of {iface} {} (priority {priority})", direction.name())
        }),
    }
}

/// Removes cls_bpf filters running a policer program on `iface` in `direction`, where no
/// policer is: left by an attach that died between adding its filter and pinning its mark.
/// Returns whether there were any.
fn remove_orphan_filters(iface: &str, direction: Direction) -> Result<bool> {
    match tc::qdisc_detach_program(iface, tc_attach_type(direction), PROG_TC) {
        Ok(()) => Ok(true),
        // None found, no clsact qdisc, or no such interface.
        Err(tc::TcError::IoError(_)) => Ok(false),
        Err(tc::TcError::NetlinkError(e))
            if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENODEV | libc::EINVAL)) =>
        {
            Ok(false)
        }
        Err(e) => Err(e).context(|| {
            format!("removing leftover TC filters of policer from {iface} {}", direction.name())
        }),
    }
}

/// Attaches in the requested mode (auto: native, else generic) through a bpf_link.
fn attach_xdp(
    program: &mut Xdp,
    iface: &Interface,
    choice: XdpModeChoice,
) -> Result<(FdLink, &'static str)> {
    let modes: &[(XdpMode, &'static str)] = match choice {
        XdpModeChoice::Auto => &[(XdpMode::Driver, "XDP native"), (XdpMode::Skb, "XDP generic")],
        XdpModeChoice::Native => &[(XdpMode::Driver, "XDP native")],
        XdpModeChoice::Generic => &[(XdpMode::Skb, "XDP generic")],
    };
    let mut last_error = None;
    for &(mode, name) in modes {
        match program.attach_to_if_index(iface.index, mode) {
            Ok(link_id) => {
                let link = program.take_link(link_id).context(|| "taking the XDP link".into())?;
                // A netlink attach (no bpf_link) cannot be pinned: undo it and fail.
                let link = FdLink::try_from(link).map_err(|e| Error::Bpf {
                    context: format!(
                        "the kernel attached XDP to {} without a bpf_link, which policer needs \
                         to pin it",
                        iface.name
                    ),
                    source: Box::new(e),
                })?;
                return Ok((link, name));
            }
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.expect("at least one mode"))
        .context(|| format!("attaching XDP to {} ({:?} mode)", iface.name, choice).to_lowercase())
}
