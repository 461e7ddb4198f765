//! Where a policer's objects are pinned, and the bpffs they live on.
//!
//! Layout (version [`policer_common::LAYOUT_VERSION`]): `/sys/fs/bpf/policer/IFACE/DIRECTION/`
//! (`ingress` or `egress`) holds the program's link (`link`) and one pin per map, named as the
//! map. (Layout 1, of the first release, had no direction level: `IFACE/link`; it is
//! recognised and refused with what to do.) bpffs refuses names with a dot, so a dot in an
//! interface name (`eth0.100`) is written as `:`, which interface names cannot contain.
//! `attach` pins the maps in `/sys/fs/bpf/policer_partial/IFACE:DIRECTION:PID`, renames that
//! into place, and pins the link last: a policer is whole when its link is pinned; leftovers
//! of an interrupted attach are removed by the next `attach` or `detach` of that interface.

use std::{
    ffi::CString,
    fs,
    os::unix::fs::DirBuilderExt as _,
    path::{Path, PathBuf},
};

use crate::{
    Direction,
    error::{Context as _, Error, Result},
};

/// Mount point of the BPF file system.
pub const BPFFS: &str = "/sys/fs/bpf";
/// Directory of all of policer's pins, one sub-directory per interface.
pub const ROOT: &str = "/sys/fs/bpf/policer";
/// Where attaches in progress build their pin directories.
pub const PARTIAL_ROOT: &str = "/sys/fs/bpf/policer_partial";
/// Pin of the program's link (XDP, TCX).
pub const LINK: &str = "link";
/// Pin of the TC program where it is a cls_bpf filter (no TCX: no link to pin), made last
/// like the link: the mark of a whole policer.
pub const FILTER: &str = "filter";

/// Whether the policer pinned in `dir` is whole: its link or filter mark is pinned.
pub fn is_complete(dir: &Path) -> bool {
    dir.join(LINK).exists() || dir.join(FILTER).exists()
}

/// `iface` as a bpffs name.
fn escape(iface: &str) -> String {
    iface.replace('.', ":")
}

/// The pin directory of every policer of `iface`.
pub fn iface_dir(iface: &str) -> PathBuf {
    Path::new(ROOT).join(escape(iface))
}

/// The pin directory of the policer of `iface` in `direction`.
pub fn dir(iface: &str, direction: Direction) -> PathBuf {
    iface_dir(iface).join(direction.name())
}

/// Whether `iface` has pins of layout 1 (no direction level).
pub fn has_layout_1(iface: &str) -> bool {
    iface_dir(iface).join(LINK).exists()
}

/// The directory an attach in progress builds before renaming it to [`dir`].
pub fn partial_dir(iface: &str, direction: Direction) -> PathBuf {
    Path::new(PARTIAL_ROOT).join(format!(
        "{}:{}:{}",
        escape(iface),
        direction.name(),
        std::process::id()
    ))
}

/// Mounts bpffs at [`BPFFS`] if nothing is mounted there, and creates [`ROOT`] (mode 0700).
/// In a mount namespace of its own without bpffs (`ip netns exec`), a mount would vanish
/// with the namespace, and the policer with it: refused.
pub fn ensure_root() -> Result<()> {
    require_bpffs()?;
    if !is_bpffs(Path::new(BPFFS)) {
        mount_bpffs()?;
    }
    for dir in [ROOT, PARTIAL_ROOT] {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .context(|| format!("creating {dir}"))?;
    }
    Ok(())
}

/// Fails where [`BPFFS`] is not bpffs and this process has a mount namespace of its own:
/// there nothing of ours can be found, and nothing pinned would last.
pub fn require_bpffs() -> Result<()> {
    if is_bpffs(Path::new(BPFFS)) || !private_mount_namespace() {
        return Ok(());
    }
    Err(Error::NoBpffsHere)
}

/// Whether this process's mount namespace was made for it: its parent is in another one,
/// as under `ip netns exec` or `unshare -m`, and it ends with this process. Unknown counts
/// as not.
fn private_mount_namespace() -> bool {
    // SAFETY: getppid has no arguments and cannot fail.
    let parent = unsafe { libc::getppid() };
    let ns = |pid: String| fs::read_link(format!("/proc/{pid}/ns/mnt")).ok();
    matches!((ns("self".into()), ns(parent.to_string())), (Some(mine), Some(theirs)) if mine != theirs)
}

fn is_bpffs(path: &Path) -> bool {
    const BPF_FS_MAGIC: i64 = 0xcafe_4a11;
    let Ok(c_path) = CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: statfs is plain old data; all-zero is a valid value for every field.
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid C string and a properly sized out-parameter.
    let rc = unsafe { libc::statfs(c_path.as_ptr(), &mut stat) };
    rc == 0 && stat.f_type as i64 == BPF_FS_MAGIC
}

fn mount_bpffs() -> Result<()> {
    let target = CString::new(BPFFS).expect("no NUL");
    let fstype = CString::new("bpf").expect("no NUL");
    // SAFETY: valid C strings; no data argument.
    let rc = unsafe {
        libc::mount(fstype.as_ptr(), target.as_ptr(), fstype.as_ptr(), 0, std::ptr::null())
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error())
            .context(|| format!("mounting the BPF file system at {BPFFS}"));
    }
    Ok(())
}

/// Creates an empty directory with mode 0700, and its parents (also 0700) if a `detach`
/// of the last policer has just removed [`ROOT`] or [`PARTIAL_ROOT`].
pub fn create_private_dir(path: &Path) -> Result<()> {
    let private = || fs::DirBuilder::new().mode(0o700).create(path);
    let mut made = private();
    // A detach can remove the empty parent between our two steps: a few tries.
    for _ in 0..3 {
        let parent = match (&made, path.parent()) {
            (Err(e), Some(parent)) if e.kind() == std::io::ErrorKind::NotFound => parent,
            _ => break,
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .context(|| format!("creating {}", parent.display()))?;
        made = private();
    }
    made.context(|| format!("creating {}", path.display()))
}

/// Leftovers of attaches of `iface` that were interrupted before they completed (their
/// process is gone).
pub fn stale_partials(iface: &str) -> Vec<PathBuf> {
    let escaped = escape(iface);
    let Ok(entries) = fs::read_dir(PARTIAL_ROOT) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok())
        .filter(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.rsplit_once(':').is_some_and(|(owner, pid)| {
                owner.rsplit_once(':').is_some_and(|(owner, _)| owner == escaped)
                    && !owner_alive(pid)
            })
        })
        .map(|entry| entry.path())
        .collect()
}

fn owner_alive(pid: &str) -> bool {
    pid.parse::<u32>().is_ok_and(|pid| Path::new(&format!("/proc/{pid}")).exists())
}

/// Removes a pin directory and everything below it. Unpinning a link detaches its program
/// (nothing else holds it); unpinning the maps frees them once the program is gone.
pub fn remove_dir(path: &Path) -> Result<()> {
    // The link (or the filter's mark) first: from then on the directory is no policer, and
    // a concurrent `list` skips it instead of finding some of its maps gone.
    for mark in [LINK, FILTER] {
        let pin = path.join(mark);
        if pin.exists() {
            fs::remove_file(&pin).context(|| format!("removing {}", pin.display()))?;
        }
    }
    let entries = fs::read_dir(path).context(|| format!("reading {}", path.display()))?;
    for entry in entries {
        let entry = entry.context(|| format!("reading {}", path.display()))?;
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir {
            remove_dir(&entry.path())?;
        } else {
            fs::remove_file(entry.path())
                .context(|| format!("removing {}", entry.path().display()))?;
        }
    }
    fs::remove_dir(path).context(|| format!("removing {}", path.display()))
}

/// Removes the directory of `iface` if no policer is left in it, and [`ROOT`] and
/// [`PARTIAL_ROOT`] if nothing is left in them: the last `detach` leaves nothing of ours on
/// bpffs. (An attach that finds one gone makes it again: [`create_private_dir`].)
pub fn remove_iface_dir_if_empty(iface: &str) {
    // Each fails, as it should, while something is still in it.
    let _ = fs::remove_dir(iface_dir(iface));
    let _ = fs::remove_dir(PARTIAL_ROOT);
    let _ = fs::remove_dir(ROOT);
}

/// Direction directories of `iface` without a link: left by an attach that died.
pub fn leftover_dirs(iface: &str) -> Vec<PathBuf> {
    Direction::ALL
        .into_iter()
        .map(|d| dir(iface, d))
        .filter(|dir| dir.exists() && !is_complete(dir))
        .collect()
}

/// The directions of `iface` that have a policer.
pub fn attached_directions(iface: &str) -> Vec<Direction> {
    Direction::ALL.into_iter().filter(|&d| is_complete(&dir(iface, d))).collect()
}

/// Interfaces with a pin directory, sorted.
pub fn attached_interfaces() -> Result<Vec<String>> {
    let entries = match fs::read_dir(ROOT) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).context(|| format!("reading {ROOT}")),
    };
    let mut names: Vec<String> = entries
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().replace(':', "."))
        .collect();
    names.sort();
    Ok(names)
}

/// Fails with [`Error::NotRoot`] unless the process runs as root.
pub fn require_root(command: &'static str) -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(Error::NotRoot { command });
    }
    Ok(())
}
