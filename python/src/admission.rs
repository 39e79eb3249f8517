//! Which connections get served. Before its handshake a connection is bounded in time and in
//! message size, and connections that never greet cannot lock out the owner: past a small
//! number waiting, the oldest is closed to let a new one in (a real client greets within
//! microseconds of connecting). Only greeted connections count towards the limit of served ones.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Greeted connections served at once; each costs one blocked thread.
pub const MAX_CONNECTIONS: usize = 64;
/// Connections waiting for their handshake at once.
pub const MAX_PENDING: usize = 32;
/// How long a connection has to complete its handshake.
pub const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(5);
/// The largest message before the handshake: a handshake is a few hundred bytes.
pub const MAX_PENDING_FRAME: usize = 64 << 10;

type Closer = Box<dyn Fn() + Send>;

#[derive(Default)]
pub struct Admission {
    pending: Mutex<VecDeque<(u64, Closer)>>,
    next_id: AtomicU64,
    greeted: AtomicUsize,
}

/// A greeted connection's place among those served; freed when dropped.
pub struct Seat<'a>(&'a AtomicUsize);

impl Drop for Seat<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Admission {
    /// Registers a new connection as waiting for its handshake, closing the oldest waiting one
    /// if there are too many; `close` shuts this one down should it be evicted in turn.
    pub fn arrive(&self, close: Closer) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.push_back((id, close));
        while pending.len() > MAX_PENDING {
            if let Some((_, evict)) = pending.pop_front() {
                evict();
            }
        }
        id
    }

    /// The connection greeted or ended: it no longer waits.
    pub fn leave(&self, id: u64) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.retain(|(waiting, _)| *waiting != id);
    }

    /// Greeted connections served now.
    pub fn served(&self) -> usize {
        self.greeted.load(Ordering::Acquire).min(MAX_CONNECTIONS)
    }

    /// A seat among the served connections, if one is free.
    pub fn seat(&self) -> Option<Seat<'_>> {
        let taken = self.greeted.fetch_add(1, Ordering::AcqRel) + 1;
        let seat = Seat(&self.greeted);
        (taken <= MAX_CONNECTIONS).then_some(seat)
    }
}
