//! Errors of the policer library: each says what is wrong and, where it helps, what to do.

use crate::pins::BPFFS;
use std::{io, path::PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{command} needs root (CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN); run it with sudo")]
    NotRoot { command: &'static str },

    #[error("interface {0:?} does not exist")]
    UnknownInterface(String),

    #[error("invalid interface name {0:?}")]
    BadInterfaceName(String),

    #[error("no policer is attached to {0} (see `policer list`)")]
    NotAttached(String),

    #[error("no policer is attached to {iface} on {direction} (see `policer list`)")]
    NotAttachedIn { iface: String, direction: &'static str },

    #[error(
        "a policer is already attached to {iface} on {direction}; use \
         `policer set {iface} --direction {direction}` to change its profile"
    )]
    AlreadyAttached { iface: String, direction: &'static str },

    #[error("{0} has policers on ingress and egress: say which with --direction ingress|egress")]
    AmbiguousDirection(String),

    #[error(
        "{BPFFS} holds no BPF file system in this mount namespace (`ip netns exec` remounts \
         /sys without it), and pins made here would vanish when this command ends, detaching \
         the policer with them: run policer under `nsenter --net=/run/netns/NAME` instead, \
         which keeps the host's {BPFFS}"
    )]
    NoBpffsHere,

    #[error("XDP sees only received packets: police egress with --hook tc")]
    XdpEgress,

    #[error(
        "{path} holds pins of an older policer (layout 1, without a direction level); remove \
         them with `policer detach {iface}` and attach again"
    )]
    Layout1 { path: PathBuf, iface: String },

    #[error(
        "{iface} already carries an XDP program that is not ours (id {prog_id}{name}); \
         policer never replaces it: detach it first (e.g. `ip link set dev {iface} xdp off`)"
    )]
    ForeignXdp { iface: String, prog_id: u32, name: String },

    #[error(
        "the policer pinned at {path} was made by an incompatible version (layout {found}, \
         this policer uses {expected}); detach it with that version, or remove {path}"
    )]
    IncompatibleLayout { path: PathBuf, found: u32, expected: u32 },

    #[error("{0}")]
    InvalidProfile(String),

    #[error("invalid prefix {text:?}: {why}")]
    BadPrefix { text: String, why: String },

    #[error(
        "{iface} already has a plan for {prefix}; use `policer plan set` or `policer plan del`"
    )]
    PlanExists { iface: String, prefix: String },

    #[error("{iface} has no plan for {prefix} (see `policer plan list {iface}`)")]
    NoSuchPlan { iface: String, prefix: String },

    #[error("{iface} has {max} plans already, the most a policer holds; delete one first")]
    TooManyPlans { iface: String, max: u32 },

    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },

    #[error("{context}")]
    Bpf {
        context: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds what was being done to an I/O or BPF error.
pub(crate) trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, io::Error> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Io { context: what(), source })
    }
}

macro_rules! bpf_context {
    ($($ty:ty),*) => {$(
        impl<T> Context<T> for std::result::Result<T, $ty> {
            fn context(self, what: impl FnOnce() -> String) -> Result<T> {
                self.map_err(|source| Error::Bpf { context: what(), source: Box::new(source) })
            }
        }
    )*};
}
bpf_context!(
    aya::EbpfError,
    aya::maps::MapError,
    aya::programs::ProgramError,
    aya::programs::links::LinkError,
    aya::programs::tc::TcError,
    aya::pin::PinError
);
