//! Running a job on the interpreter as soon as possible, from a thread that never holds the GIL
//! otherwise.
//!
//! Two routes race and the first one to take the job runs it:
//! - a pending call (`Py_AddPendingCall`), which the main thread runs at its next bytecode
//!   boundary: microseconds when the program is busy in Python code, where taking the GIL from
//!   another thread would wait for the 5 ms switch interval;
//! - a worker thread that attaches to the interpreter: immediate when the main thread is idle
//!   (sleeping or blocked in I/O with the GIL released), where a pending call would wait.

use std::ffi::{c_int, c_void};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};

use pyo3::prelude::*;

type Job = Box<dyn FnOnce(Python<'_>) + Send>;

struct Slot(Mutex<Option<Job>>);

impl Slot {
    fn take(&self) -> Option<Job> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    fn is_taken(&self) -> bool {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).is_none()
    }
}

fn worker() -> &'static Mutex<mpsc::Sender<Arc<Slot>>> {
    static WORKER: OnceLock<Mutex<mpsc::Sender<Arc<Slot>>>> = OnceLock::new();
    WORKER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Arc<Slot>>();
        crate::server::spawn_quiet("splice-worker", move || {
            for slot in rx {
                if slot.is_taken() {
                    continue;
                }
                // try_attach declines during interpreter shutdown; the job is then dropped so
                // that its requester stops waiting.
                let attached = Python::try_attach(|py| {
                    if let Some(job) = slot.take() {
                        job(py);
                    }
                });
                if attached.is_none() {
                    drop(slot.take());
                }
            }
        });
        Mutex::new(tx)
    })
}

extern "C" fn run_pending(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` came from `Arc::into_raw` in `run_on_interpreter`, once per pending call.
    let slot = unsafe { Arc::from_raw(arg as *const Slot) };
    if let Some(job) = slot.take() {
        // SAFETY: pending calls run on the main thread with the GIL held.
        let py = unsafe { Python::assume_attached() };
        job(py);
    }
    0
}

/// Runs `f` with the GIL held, on whichever route gets there first, and returns its result.
/// `None` when the interpreter is shutting down.
pub fn run_on_interpreter<R, F>(f: F) -> Option<R>
where
    R: Send + 'static,
    F: FnOnce(Python<'_>) -> R + Send + 'static,
{
    let (tx, rx) = mpsc::sync_channel(1);
    let job: Job = Box::new(move |py| {
        let _ = tx.send(f(py));
    });
    let slot = Arc::new(Slot(Mutex::new(Some(job))));
    let raw = Arc::into_raw(slot.clone()) as *mut c_void;
    // SAFETY: Py_AddPendingCall may be called without the GIL; on failure (queue full) the
    // reference we handed over is ours again.
    if unsafe { pyo3::ffi::Py_AddPendingCall(Some(run_pending), raw) } != 0 {
        drop(unsafe { Arc::from_raw(raw as *const Slot) });
    }
    let sent = worker()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send(slot)
        .is_ok();
    if !sent {
        return None;
    }
    rx.recv().ok()
}
