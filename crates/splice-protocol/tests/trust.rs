//! The runtime folder and its records are trusted only when nobody else could have made them:
//! what another local user plants is refused, with the reason.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use splice_protocol::discovery::{
    check_private_dir, current_uid, ensure_private_dir, list_agents, socket_path, write_record,
    AgentRecord,
};
use splice_protocol::{AgentInfo, PROTOCOL_VERSION};

/// A uid that is not ours, for files we can give away (only root can).
const OTHER_UID: u32 = 65534;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("splice-trust-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let _ = fs::remove_file(&dir);
    dir
}

fn record(pid: u32, address: String) -> AgentRecord {
    AgentRecord {
        info: AgentInfo {
            pid,
            argv: vec!["app.py".into()],
            cwd: "/".into(),
            python_version: "3.11.7".into(),
            python_executable: "/usr/bin/python3".into(),
            protocol_version: PROTOCOL_VERSION,
            agent_version: "0.1.0".into(),
            address,
            started_at: 1.0,
            parent_pid: None,
        },
        token: None,
    }
}

fn own_record(dir: &Path) -> AgentRecord {
    let pid = std::process::id();
    record(pid, format!("unix:{}", socket_path(dir, pid).display()))
}

fn chown(path: &Path, uid: u32) -> bool {
    let c = std::ffi::CString::new(path.as_os_str().to_str().unwrap()).unwrap();
    // SAFETY: a valid C string; lchown does not follow symlinks.
    unsafe { libc::lchown(c.as_ptr(), uid, u32::MAX) == 0 }
}

fn refusal(dir: &Path) -> String {
    list_agents(dir)
        .expect_err("the folder was trusted")
        .to_string()
}

#[test]
fn a_private_folder_of_ours_with_our_record_is_trusted() {
    let dir = scratch("ok");
    ensure_private_dir(&dir).unwrap();
    write_record(&dir, &own_record(&dir)).unwrap();
    let listing = list_agents(&dir).unwrap();
    assert_eq!(listing.agents, vec![own_record(&dir)]);
    assert!(listing.refused.is_empty(), "{:?}", listing.refused);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_symlinked_runtime_folder_is_refused() {
    let target = scratch("planted");
    ensure_private_dir(&target).unwrap();
    write_record(&target, &own_record(&target)).unwrap();
    let dir = scratch("link");
    symlink(&target, &dir).unwrap();
    assert!(refusal(&dir).contains("symbolic link"));
    assert!(ensure_private_dir(&dir).is_err(), "an agent would use it");
    fs::remove_file(&dir).unwrap();
    fs::remove_dir_all(&target).unwrap();
}

#[test]
fn a_folder_others_can_open_is_refused_and_left_as_it_is() {
    let dir = scratch("open");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    assert!(refusal(&dir).contains("mode 755"));
    assert!(ensure_private_dir(&dir).is_err());
    assert_eq!(
        fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o755
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_folder_another_user_made_is_refused() {
    let dir = scratch("foreign");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    if current_uid() != 0 || !chown(&dir, OTHER_UID) {
        eprintln!("skipped: giving a folder to another user needs root");
        fs::remove_dir_all(&dir).unwrap();
        return;
    }
    assert!(refusal(&dir).contains(&format!("belongs to uid {OTHER_UID}")));
    assert!(check_private_dir(&dir).is_err());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn records_that_could_be_someone_elses_are_refused_with_the_reason() {
    let dir = scratch("records");
    ensure_private_dir(&dir).unwrap();
    let pid = std::process::id();
    let path = dir.join(format!("{pid}.json"));
    let elsewhere = format!("unix:{}", std::env::temp_dir().join("x.sock").display());
    let cases: Vec<(&str, AgentRecord, Option<u32>, &str)> = vec![
        ("open mode", own_record(&dir), Some(0o644), "mode 644"),
        (
            "socket outside",
            record(pid, elsewhere),
            None,
            "names the socket",
        ),
        (
            "another's socket",
            record(pid, format!("unix:{}", socket_path(&dir, 1).display())),
            None,
            "names the socket",
        ),
        (
            "remote tcp",
            record(pid, "tcp:10.1.2.3:4000".into()),
            None,
            "not a loopback",
        ),
        (
            "other pid",
            record(1, format!("unix:{}", socket_path(&dir, 1).display())),
            None,
            "names pid 1",
        ),
    ];
    for (name, planted, mode, expected) in cases {
        fs::write(&path, serde_json::to_vec(&planted).unwrap()).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode.unwrap_or(0o600))).unwrap();
        let listing = list_agents(&dir).unwrap();
        assert!(listing.agents.is_empty(), "{name}: trusted");
        assert!(
            listing.refused.len() == 1 && listing.refused[0].contains(expected),
            "{name}: {:?}",
            listing.refused
        );
    }
    if current_uid() == 0 {
        write_record(&dir, &own_record(&dir)).unwrap();
        assert!(chown(&path, OTHER_UID));
        let listing = list_agents(&dir).unwrap();
        assert!(listing.agents.is_empty() && listing.refused[0].contains("belongs to uid"));
    }
    let loopback = record(pid, "tcp:127.0.0.1:4000".into());
    fs::remove_file(&path).unwrap();
    write_record(&dir, &loopback).unwrap();
    assert_eq!(list_agents(&dir).unwrap().agents, vec![loopback]);
    fs::remove_dir_all(&dir).unwrap();
}
