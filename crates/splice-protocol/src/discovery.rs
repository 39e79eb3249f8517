//! Where agents listen and how clients find them: a private per-user runtime folder holding,
//! per agent, `<pid>.sock` and a `<pid>.json` record.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::messages::AgentInfo;

/// What an agent leaves in the runtime folder for clients to find it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentRecord {
    #[serde(flatten)]
    pub info: AgentInfo,
    /// Present for TCP listeners: clients must send it in the handshake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// `$SPLICE_RUNTIME_DIR`, else `$XDG_RUNTIME_DIR/splice`, else `/tmp/splice-<uid>`.
pub fn runtime_dir() -> PathBuf {
    let from_env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = from_env("SPLICE_RUNTIME_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = from_env("XDG_RUNTIME_DIR") {
        return PathBuf::from(dir).join("splice");
    }
    PathBuf::from(format!("/tmp/splice-{}", current_uid()))
}

pub fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// Creates the folder (0700) if it is missing, then checks it as `check_private_dir` does.
/// Nothing existing is changed: a folder someone else made or could write to is refused.
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    match fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
        Err(err) => return Err(err),
    }
    check_private_dir(dir)
}

/// Whether the runtime folder can be trusted: a real directory (not a symlink), owned by us,
/// that nobody else can read or write (mode 0700). Another local user who made the folder, or
/// a symlink to one of theirs, could plant records there and read what is sent to them.
pub fn check_private_dir(dir: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(dir)?;
    let refuse = |why: String| {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "the runtime folder {} {why}; refused (set SPLICE_RUNTIME_DIR to a private folder of yours)",
                dir.display()
            ),
        ))
    };
    if meta.file_type().is_symlink() {
        return refuse("is a symbolic link".into());
    }
    if !meta.is_dir() {
        return refuse("is not a directory".into());
    }
    if meta.uid() != current_uid() {
        return refuse(format!(
            "belongs to uid {}, not to uid {}",
            meta.uid(),
            current_uid()
        ));
    }
    if meta.mode() & 0o077 != 0 {
        return refuse(format!(
            "has mode {:o}, open to other users (it must be 700)",
            meta.mode() & 0o777
        ));
    }
    Ok(())
}

pub fn record_path(dir: &Path, pid: u32) -> PathBuf {
    dir.join(format!("{pid}.json"))
}

pub fn socket_path(dir: &Path, pid: u32) -> PathBuf {
    dir.join(format!("{pid}.sock"))
}

/// Writes the record atomically (temporary file, then rename), readable by its owner only.
pub fn write_record(dir: &Path, record: &AgentRecord) -> io::Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = record_path(dir, record.info.pid);
    let tmp = dir.join(format!(".{}.json.tmp", record.info.pid));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(&serde_json::to_vec_pretty(record)?)?;
    // Renamed whole, so never read half-written; not synced: a record is worth nothing after a
    // crash of the machine, and a sync costs a forked worker a millisecond.
    fs::rename(&tmp, &path)?;
    Ok(path)
}

pub fn remove_agent_files(dir: &Path, pid: u32) {
    let _ = fs::remove_file(record_path(dir, pid));
    let _ = fs::remove_file(socket_path(dir, pid));
}

/// Whether the process is stopped (by Ctrl-Z, `SIGSTOP`, or a debugger holding it): it
/// answers nothing until it runs again. Known on Linux only.
pub fn process_stopped(pid: u32) -> bool {
    process_state_is(pid, &["T", "t"])
}

/// Whether a process with this pid exists (ours or not) and has not exited: a zombie, exited
/// but not yet reaped by its parent, answers nothing ever again.
pub fn process_alive(pid: u32) -> bool {
    process_exists(pid) && !process_state_is(pid, &["Z", "X"])
}

fn process_state_is(pid: u32, states: &[&str]) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // `pid (command) state ...`: the command may hold spaces and parentheses.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .is_some_and(|state| states.contains(&state))
}

fn process_exists(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks for existence and permission.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The records of a trusted runtime folder: agents to talk to, and what was refused, each
/// with the reason.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Listing {
    pub agents: Vec<AgentRecord>,
    pub refused: Vec<String>,
}

/// Every live agent's record in `dir`, once the folder is trusted (`check_private_dir`).
/// Records of dead processes are removed with their sockets; unreadable ones are skipped;
/// records that could be someone else's are refused (`check_record`).
pub fn list_agents(dir: &Path) -> io::Result<Listing> {
    check_private_dir(dir)?;
    let mut listing = Listing::default();
    for entry in fs::read_dir(dir)?.flatten() {
        let path = entry.path();
        let Some(pid) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".json"))
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if !process_alive(pid) {
            remove_agent_files(dir, pid);
            continue;
        }
        match check_record(dir, pid, &path) {
            Ok(Some(record)) => listing.agents.push(record),
            Ok(None) => {}
            Err(why) => listing.refused.push(format!(
                "the agent record {} {why}; refused",
                path.display()
            )),
        }
    }
    listing.agents.sort_by_key(|r| r.info.pid);
    Ok(listing)
}

/// A record we can trust: a regular file of ours that nobody else can read or write, about
/// the process its name says, naming that process's socket in this folder (or, for TCP, a
/// loopback address). `Ok(None)` for a record being written or unreadable.
fn check_record(dir: &Path, pid: u32, path: &Path) -> Result<Option<AgentRecord>, String> {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return Ok(None);
    };
    if !meta.file_type().is_file() {
        return Err("is not a regular file".into());
    }
    if meta.uid() != current_uid() {
        return Err(format!("belongs to uid {}", meta.uid()));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(format!(
            "has mode {:o}, open to other users",
            meta.mode() & 0o777
        ));
    }
    let Some(record) = fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<AgentRecord>(&bytes).ok())
    else {
        return Ok(None);
    };
    if record.info.pid != pid {
        return Err(format!("names pid {}", record.info.pid));
    }
    let address = &record.info.address;
    if let Some(socket) = address.strip_prefix("unix:") {
        let socket = Path::new(socket);
        let here = |p: &Path| fs::canonicalize(p).ok();
        let named = socket.file_name() == Some(std::ffi::OsStr::new(&format!("{pid}.sock")));
        // Written with the same folder name as read, the usual case, needs no system call.
        let inside = socket.parent() == Some(dir)
            || socket
                .parent()
                .and_then(here)
                .is_some_and(|p| Some(p) == here(dir));
        if !named || !inside {
            return Err(format!(
                "names the socket {}, not {pid}.sock of this folder",
                socket.display()
            ));
        }
    } else if let Some(host_port) = address.strip_prefix("tcp:") {
        if !is_loopback(host_port) {
            return Err(format!("names {host_port}, not a loopback address"));
        }
    } else {
        return Err(format!("names the address {address:?}"));
    }
    Ok(Some(record))
}

fn is_loopback(host_port: &str) -> bool {
    let host = host_port
        .rsplit_once(':')
        .map_or(host_port, |(host, _)| host);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
