//! What a forked child must not inherit from its parent's agent.
//!
//! `fork` copies memory but only the thread that called it: the parent's agent threads do not
//! exist in the child, and a lock one of them held at that moment stays locked there forever.
//! So the agent's process-wide state lives in `PerProcess` cells that a process other than the
//! one that filled them finds empty, and the parent's sockets are closed in the child before it
//! starts an agent of its own.

use std::sync::atomic::{AtomicPtr, Ordering};

/// A value made on first use in each process. A child's first use makes its own and leaks the
/// parent's copy: its locks may be held by threads that are gone.
pub struct PerProcess<T> {
    cell: AtomicPtr<(u32, T)>,
    init: fn() -> T,
}

impl<T> PerProcess<T> {
    pub const fn new(init: fn() -> T) -> PerProcess<T> {
        PerProcess {
            cell: AtomicPtr::new(std::ptr::null_mut()),
            init,
        }
    }

    pub fn get(&self) -> &T {
        let pid = std::process::id();
        let current = self.cell.load(Ordering::Acquire);
        // SAFETY: a non-null pointer came from `Box::into_raw` below and is never freed while
        // reachable: values are replaced only by a process that did not make them.
        if let Some((owner, value)) = unsafe { current.as_ref() } {
            if *owner == pid {
                return value;
            }
        }
        let fresh = Box::into_raw(Box::new((pid, (self.init)())));
        match self
            .cell
            .compare_exchange(current, fresh, Ordering::AcqRel, Ordering::Acquire)
        {
            // SAFETY: just made, now shared for the life of the process.
            Ok(_) => unsafe { &(*fresh).1 },
            Err(won) => {
                // Another thread of this process made one first.
                drop(unsafe { Box::from_raw(fresh) });
                unsafe { &(*won).1 }
            }
        }
    }
}

/// Closes, in a forked child, every socket it inherited from the parent's agent: the
/// listening one and its connections (whose local address is the listener's). Left open, the
/// child would keep the parent's socket reachable after the parent exits, and its clients'
/// connections open.
#[cfg(target_os = "linux")]
pub fn close_inherited(address: &str) {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<i32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    for fd in fds {
        if local_address(fd).as_deref() == Some(address) {
            // SAFETY: the descriptor is one of the parent agent's sockets; nothing in the
            // child uses it.
            unsafe { libc::close(fd) };
        }
    }
}

#[cfg(not(target_os = "linux"))]
pub fn close_inherited(_address: &str) {}

/// The address a socket is bound to, written as agent addresses are (`unix:PATH`,
/// `tcp:127.0.0.1:PORT`); `None` for anything else.
fn local_address(fd: i32) -> Option<String> {
    // SAFETY: getsockname writes at most `len` bytes into the storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let rc = unsafe {
        libc::getsockname(
            fd,
            &mut storage as *mut libc::sockaddr_storage as *mut libc::sockaddr,
            &mut len,
        )
    };
    if rc != 0 {
        return None;
    }
    match storage.ss_family as i32 {
        libc::AF_UNIX => {
            // SAFETY: the family says this is a sockaddr_un.
            let un = unsafe { &*(&storage as *const _ as *const libc::sockaddr_un) };
            let path: Vec<u8> = un
                .sun_path
                .iter()
                .take_while(|c| **c != 0)
                .map(|c| *c as u8)
                .collect();
            use std::os::unix::ffi::OsStrExt;
            let path = std::path::Path::new(std::ffi::OsStr::from_bytes(&path));
            Some(format!("unix:{}", path.display()))
        }
        libc::AF_INET => {
            // SAFETY: the family says this is a sockaddr_in.
            let sin = unsafe { &*(&storage as *const _ as *const libc::sockaddr_in) };
            let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Some(format!("tcp:{ip}:{}", u16::from_be(sin.sin_port)))
        }
        _ => None,
    }
}
