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

pub mod error;
pub mod keys;
pub mod maps;
pub mod netdev;
pub mod pins;
pub mod plot;
pub mod profile;
pub mod simulate;
pub mod units;

use std::{
    fs,
    os::fd::AsRawFd as _,
    path::{Path, PathBuf},
};

use aya::{
    Ebpf, EbpfLoader,
    programs::{
        TestRun, TestRunOptions, Xdp, XdpMode,
        links::{FdLink, PinnedLink},
    },
};
use policer_common::{DEFAULT_MAX_FLOWS, MAP_FLOWS, PROG_XDP, Profile};

pub use crate::error::{Error, Result};
use crate::{
    error::Context as _,
    maps::{Counters, Flow, Maps},
    netdev::Interface,
};

/// The kernel program, built by build.rs from policer-ebpf.
static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(env!("POLICER_EBPF_OBJECT"));

/// The compiled eBPF object (both programs and their maps), for tools and tests that load it
/// themselves.
pub fn ebpf_object() -> &'static [u8] {
    EBPF_OBJECT
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

/// What `attach` sets up.
#[derive(Clone, Debug)]
pub struct AttachOptions {
    pub profile: Profile,
    pub max_flows: u32,
    pub xdp_mode: XdpModeChoice,
}

impl AttachOptions {
    pub fn new(profile: Profile) -> Self {
        Self {
            profile,
            max_flows: DEFAULT_MAX_FLOWS,
            xdp_mode: XdpModeChoice::Auto,
        }
    }
}

/// The kernel program loaded with its maps, not attached: what `attach` pins, and what tests
/// and benchmarks run frames through with `BPF_PROG_TEST_RUN`.
pub struct Loaded {
    ebpf: Ebpf,
    pub maps: Maps,
}

impl Loaded {
    /// Loads the program (the verifier checks it here) with `profile` in force.
    pub fn load(profile: &Profile, max_flows: u32) -> Result<Loaded> {
        if max_flows == 0 {
            return Err(Error::InvalidProfile(
                "--max-flows must be at least 1".into(),
            ));
        }
        let mut ebpf = EbpfLoader::new()
            .map_max_entries(MAP_FLOWS, max_flows)
            .load(EBPF_OBJECT)
            .context(|| "loading the policer's eBPF object".to_string())?;
        let mut maps = Maps::take_from(&mut ebpf)?;
        maps.store_profile(profile)?;
        let mut loaded = Loaded { ebpf, maps };
        loaded
            .xdp()?
            .load()
            .context(|| "loading the XDP program (verifier)".to_string())?;
        Ok(loaded)
    }

    fn xdp(&mut self) -> Result<&mut Xdp> {
        let program = self.ebpf.program_mut(PROG_XDP).ok_or_else(|| Error::Bpf {
            context: format!("the eBPF object has no program {PROG_XDP}"),
            source: "missing program".into(),
        })?;
        let xdp: Result<&mut Xdp, _> = program.try_into();
        xdp.context(|| format!("{PROG_XDP} is not an XDP program"))
    }

    /// Runs one frame through the program and returns the XDP action and the frame as the
    /// program left it (rewritten by an ECN or DSCP action).
    pub fn test_run_output(&mut self, frame: &[u8]) -> Result<(u32, Vec<u8>)> {
        let mut out = vec![0u8; frame.len() + 256];
        let opts = TestRunOptions {
            data_in: Some(frame),
            data_out: Some(&mut out),
            ..Default::default()
        };
        let result = self
            .xdp()?
            .test_run(opts)
            .context(|| "BPF_PROG_TEST_RUN".to_string())?;
        out.truncate(result.data_size_out as usize);
        Ok((result.return_value, out))
    }

    /// Runs one frame through the program (`BPF_PROG_TEST_RUN`), `repeat` times, and returns
    /// the XDP action and the mean run time in nanoseconds.
    pub fn test_run(&mut self, frame: &[u8], repeat: u32) -> Result<(u32, u64)> {
        let opts = TestRunOptions {
            data_in: Some(frame),
            repeat,
            ..Default::default()
        };
        let result = self
            .xdp()?
            .test_run(opts)
            .context(|| "BPF_PROG_TEST_RUN".to_string())?;
        Ok((result.return_value, result.duration.as_nanos() as u64))
    }
}

/// A policer attached to an interface, opened from its pins.
pub struct Policer {
    iface: String,
    dir: PathBuf,
    maps: Maps,
}

/// The result of an attach.
pub struct Attached {
    pub policer: Policer,
    /// "native" or "generic".
    pub xdp_mode: &'static str,
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
    /// has a policer or anyone else's XDP program.
    pub fn attach(iface: &Interface, opts: &AttachOptions) -> Result<Attached> {
        pins::require_root("policer attach")?;
        pins::ensure_root()?;
        let dir = pins::dir(&iface.name);
        if dir.exists() {
            return Err(Error::AlreadyAttached(iface.name.clone()));
        }
        let removed_stale = pins::stale_partials(&iface.name);
        for stale in &removed_stale {
            pins::remove_dir(stale)?;
        }
        if let Some((prog_id, name)) = iface.attached_xdp()? {
            let name = if name.is_empty() {
                name
            } else {
                format!(", {name}")
            };
            return Err(Error::ForeignXdp {
                iface: iface.name.clone(),
                prog_id,
                name,
            });
        }

        let mut loaded = Loaded::load(&opts.profile, opts.max_flows)?;
        let (link, xdp_mode) = attach_xdp(loaded.xdp()?, iface, opts.xdp_mode)?;

        // Build the pin directory under a temporary name, and rename it into place last: a
        // policer is either complete or absent. If this process dies before the rename, the
        // link's file descriptor closes and the kernel detaches the program.
        let partial = pins::partial_dir(&iface.name);
        pins::create_private_dir(&partial)?;
        let mut guard = PartialGuard(Some(partial.clone()));
        loaded.maps.pin(&partial)?;
        let link_pin = partial.join(pins::LINK);
        link.pin(&link_pin)
            .context(|| format!("pinning {}", link_pin.display()))?;
        fs::rename(&partial, &dir)
            .context(|| format!("renaming {} to {}", partial.display(), dir.display()))?;
        guard.0 = None;

        let policer = Policer {
            iface: iface.name.clone(),
            dir,
            maps: loaded.maps,
        };
        Ok(Attached {
            policer,
            xdp_mode,
            removed_stale,
        })
    }

    /// Opens the policer attached to `iface`.
    pub fn open(iface: &str) -> Result<Policer> {
        pins::require_root("policer")?;
        let dir = pins::dir(iface);
        if !dir.join(pins::LINK).exists() {
            return Err(Error::NotAttached(iface.to_string()));
        }
        let maps = Maps::open(&dir)?;
        Ok(Policer {
            iface: iface.to_string(),
            dir,
            maps,
        })
    }

    /// Every interface with a policer, opened.
    pub fn list() -> Result<Vec<Policer>> {
        pins::require_root("policer list")?;
        pins::attached_interfaces()?
            .iter()
            .map(|iface| Policer::open(iface))
            .collect()
    }

    pub fn interface(&self) -> &str {
        &self.iface
    }

    pub fn pin_dir(&self) -> &Path {
        &self.dir
    }

    pub fn profile(&self) -> Result<Profile> {
        self.maps.profile()
    }

    /// The id of the attached XDP program, read from the pinned link.
    pub fn program_id(&self) -> Result<u32> {
        let path = self.dir.join(pins::LINK);
        let link = PinnedLink::from_pin(&path).context(|| format!("opening {}", path.display()))?;
        let info = FdLink::from(link)
            .info()
            .context(|| format!("reading {}", path.display()))?;
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
        self.maps.store_profile(profile)
    }

    pub fn counters(&self) -> Result<Counters> {
        self.maps.counters()
    }

    /// Flows, heaviest (most bytes) first.
    pub fn flows(&self) -> Result<Vec<Flow>> {
        let mut flows = self.maps.flows()?;
        flows.sort_by(|a, b| b.state.bytes.cmp(&a.state.bytes).then(a.key.cmp(&b.key)));
        Ok(flows)
    }

    pub fn flow_count(&self) -> Result<usize> {
        self.maps.flow_count()
    }

    pub fn max_flows(&self) -> Result<u32> {
        self.maps.max_flows()
    }

    /// Detaches the policer from `iface` and removes every pin; afterwards nothing of it is
    /// left. Works also when the interface is gone (the kernel already detached it then).
    pub fn detach(iface: &str) -> Result<()> {
        pins::require_root("policer detach")?;
        let stale = pins::stale_partials(iface);
        let dir = pins::dir(iface);
        if !dir.exists() && stale.is_empty() {
            return Err(Error::NotAttached(iface.to_string()));
        }
        for partial in stale {
            pins::remove_dir(&partial)?;
        }
        if dir.exists() {
            pins::remove_dir(&dir)?;
        }
        Ok(())
    }
}

/// Attaches in the requested mode (auto: native, else generic) through a bpf_link.
fn attach_xdp(
    program: &mut Xdp,
    iface: &Interface,
    choice: XdpModeChoice,
) -> Result<(FdLink, &'static str)> {
    let modes: &[(XdpMode, &'static str)] = match choice {
        XdpModeChoice::Auto => &[(XdpMode::Driver, "native"), (XdpMode::Skb, "generic")],
        XdpModeChoice::Native => &[(XdpMode::Driver, "native")],
        XdpModeChoice::Generic => &[(XdpMode::Skb, "generic")],
    };
    let mut last_error = None;
    for &(mode, name) in modes {
        match program.attach_to_if_index(iface.index, mode) {
            Ok(link_id) => {
                let link = program
                    .take_link(link_id)
                    .context(|| "taking the XDP link".into())?;
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
