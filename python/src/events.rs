//! Runtime events (exceptions in patched code, uncaught exceptions) on their way from the
//! program to clients: the Python side pushes, a client's `events` call waits for them.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use splice_protocol::{EventsResult, RuntimeEvent};

use crate::process::PerProcess;

/// Older events are dropped past this: a client that was away sees the recent ones.
const KEPT: usize = 512;
/// A client waits at most this long in one call.
const LONGEST_WAIT: Duration = Duration::from_secs(300);

struct Log {
    last: u64,
    events: VecDeque<RuntimeEvent>,
}

struct Events {
    log: Mutex<Log>,
    arrived: Condvar,
}

/// A forked child starts with no events: its clients are its own.
static EVENTS: PerProcess<Events> = PerProcess::new(|| Events {
    log: Mutex::new(Log {
        last: 0,
        events: VecDeque::new(),
    }),
    arrived: Condvar::new(),
});

pub fn push(mut event: RuntimeEvent) {
    let events = EVENTS.get();
    let mut log = events.log.lock().unwrap_or_else(|e| e.into_inner());
    log.last += 1;
    event.seq = log.last;
    if log.events.len() == KEPT {
        log.events.pop_front();
    }
    log.events.push_back(event);
    events.arrived.notify_all();
}

/// Events after `after`, waiting up to `timeout` for the first one. Called on connection
/// threads, never with the GIL.
pub fn wait(after: u64, timeout: Duration) -> EventsResult {
    let deadline = Instant::now() + timeout.min(LONGEST_WAIT);
    let events = EVENTS.get();
    let mut log = events.log.lock().unwrap_or_else(|e| e.into_inner());
    while log.last <= after {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        log = events
            .arrived
            .wait_timeout(log, left)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
    EventsResult {
        events: log
            .events
            .iter()
            .filter(|e| e.seq > after)
            .cloned()
            .collect(),
        last: log.last,
    }
}
