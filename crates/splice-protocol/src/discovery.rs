//! Where agents listen and how clients find them: a private per-user runtime folder holding,
//! per agent, `<pid>.sock` and a `<pid>.json` record.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
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

/// Creates the folder 0700, or checks that an existing one is ours and tightens it to 0700.
/// A folder owned by someone else is refused: they could read our sockets' records.
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
    let meta = fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Err(io::Error::other(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    if meta.uid() != current_uid() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} belongs to uid {}, not to us (uid {}); set SPLICE_RUNTIME_DIR to a folder of ours",
                dir.display(),
                meta.uid(),
                current_uid()
            ),
        ));
    }
    if meta.mode() & 0o777 != 0o700 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
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
    file.sync_data()?;
    fs::rename(&tmp, &path)?;
    Ok(path)
}

pub fn remove_agent_files(dir: &Path, pid: u32) {
    let _ = fs::remove_file(record_path(dir, pid));
    let _ = fs::remove_file(socket_path(dir, pid));
}

/// Whether a process with this pid exists (ours or not).
pub fn process_alive(pid: u32) -> bool {
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

/// Every live agent's record in `dir`. Records of dead processes are removed with their
/// sockets; unreadable records are skipped.
pub fn list_agents(dir: &Path) -> Vec<AgentRecord> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut agents = Vec::new();
    for entry in entries.flatten() {
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
        let record = fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<AgentRecord>(&bytes).ok());
        if let Some(record) = record {
            agents.push(record);
        }
    }
    agents.sort_by_key(|r| r.info.pid);
    agents
}
