//! Running a job on the interpreter as soon as possible, from a thread that never holds the GIL
//! otherwise.
//!
//! Two routes race and the first one to take the job runs it:
//! - a pending call (`Py_AddPendingCall`), which the main thread runs at its next bytecode
//!   boundary: microseconds when the program is busy in Python code, where taking the GIL from
//!   another thread would wait for the 5 ms switch interval;
//! - a worker thread that attaches to the interpreter: immediate when the main thread is idle
//!   (sleeping or blocked in I/O with the GIL released), where a pending call would wait.
//!
//! CPython before 3.12 does not wake the main thread for a pending call added from another
//! thread (cpython#95820): it notices only when the GIL changes hands. So there, while the
//! worker waits for the GIL, the switch interval is shortened from its 5 ms to `FAST_SWITCH`,
//! and put back as soon as the worker holds the GIL. From 3.12 on, `Py_AddPendingCall` still
//! does not wake a busy main thread when called from a thread without a thread state (its
//! eval breaker is computed in the adding thread), and the switch interval can no longer be
//! set from outside; there the interpreter's own queue is used instead
//! (`_PyEval_AddPendingCall(PyInterpreterState_Main(), ..., 0)`, exported by 3.12 to 3.14),
//! which signals whichever thread runs Python next, looked up at run time with
//! `Py_AddPendingCall` as the fallback.

use std::ffi::{c_int, c_void};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};

use pyo3::prelude::*;

use crate::process::PerProcess;

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

/// Microseconds a GIL waiter lets pass before asking the holder to let go, while a job waits.
const FAST_SWITCH: std::ffi::c_ulong = 50;

/// CPython's switch interval accessors: not in the stable ABI, so looked up at run time; every
/// CPython from 3.2 to 3.13 exports them. Neither needs the GIL.
struct SwitchInterval {
    get: unsafe extern "C" fn() -> std::ffi::c_ulong,
    set: unsafe extern "C" fn(std::ffi::c_ulong),
}

/// The interpreter's (major, minor) version, set when the agent starts.
static PYTHON_VERSION: OnceLock<(u32, u32)> = OnceLock::new();

pub fn set_python_version(version: &str) {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let _ = PYTHON_VERSION.set((parts.next().unwrap_or(3), parts.next().unwrap_or(0)));
}

fn switch_interval() -> Option<&'static SwitchInterval> {
    static FOUND: OnceLock<Option<SwitchInterval>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            // From 3.12 on the accessors need the GIL (the interval is per interpreter), and
            // pending calls go to the interpreter's own queue, which wakes the main thread
            // (`interpreter_queue`).
            if PYTHON_VERSION.get().is_none_or(|v| *v >= (3, 12)) {
                return None;
            }
            // SAFETY: dlsym on the running process; the symbols, when present, have these
            // signatures in every CPython version the agent supports.
            unsafe {
                let get = libc::dlsym(libc::RTLD_DEFAULT, c"_PyEval_GetSwitchInterval".as_ptr());
                let set = libc::dlsym(libc::RTLD_DEFAULT, c"_PyEval_SetSwitchInterval".as_ptr());
                if get.is_null() || set.is_null() {
                    return None;
                }
                Some(SwitchInterval {
                    get: std::mem::transmute::<*mut c_void, unsafe extern "C" fn() -> std::ffi::c_ulong>(get),
                    set: std::mem::transmute::<*mut c_void, unsafe extern "C" fn(std::ffi::c_ulong)>(set),
                })
            }
        })
        .as_ref()
}

/// Attaches to the interpreter with the switch interval shortened for the wait.
fn attach_soon<R>(f: impl FnOnce(Python<'_>) -> R) -> Option<R> {
    let Some(switch) = switch_interval() else {
        return Python::try_attach(f);
    };
    // SAFETY: plain loads and stores of an integer in the interpreter's runtime state.
    let before = unsafe { (switch.get)() };
    if before > FAST_SWITCH {
        unsafe { (switch.set)(FAST_SWITCH) };
    }
    // Put back before running anything, unless the program changed it meanwhile.
    let restore = || {
        if before > FAST_SWITCH && unsafe { (switch.get)() } == FAST_SWITCH {
            unsafe { (switch.set)(before) };
        }
    };
    let result = Python::try_attach(|py| {
        restore();
        f(py)
    });
    if result.is_none() {
        restore();
    }
    result
}

/// The worker of this process: a forked child starts its own, the parent's is not there.
static WORKER: PerProcess<mpsc::Sender<Arc<Slot>>> = PerProcess::new(start_worker);

fn start_worker() -> mpsc::Sender<Arc<Slot>> {
    let (tx, rx) = mpsc::channel::<Arc<Slot>>();
    crate::server::spawn_quiet("splice-worker", move || {
        // One thread state for the worker's whole life, instead of one made and torn down
        // (with its frame stack) for every job: an unmatched PyGILState_Ensure keeps it.
        let _ = attach_soon(|_| unsafe {
            pyo3::ffi::PyGILState_Ensure();
        });
        for slot in rx {
            if slot.is_taken() {
                continue;
            }
            // try_attach declines during interpreter shutdown; the job is then dropped so
            // that its requester stops waiting.
            let attached = attach_soon(|py| {
                if let Some(job) = slot.take() {
                    job(py);
                }
            });
            if attached.is_none() {
                drop(slot.take());
            }
        }
    });
    tx
}

extern "C" fn run_pending(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` came from `Arc::into_raw` in `run_on_interpreter`, once per pending call.
    let slot = unsafe { Arc::from_raw(arg as *const Slot) };
    // SAFETY: pending calls run with the GIL held (on the main thread, or from 3.12 on
    // whichever thread runs Python next).
    let py = unsafe { Python::assume_attached() };
    // In the middle of an import, a module the job imports may be the half-initialised one:
    // the worker takes the job instead, and waits for that module like any other thread.
    if !inside_import(py) {
        if let Some(job) = slot.take() {
            job(py);
        }
    }
    0
}

/// Whether the main thread, interrupted by a pending call, is executing an import.
fn inside_import(py: Python<'_>) -> bool {
    let Ok(mut frame) = py
        .import("sys")
        .and_then(|sys| sys.call_method1("_getframe", (0,)))
    else {
        return false;
    };
    for _ in 0..512 {
        let file = frame
            .getattr("f_code")
            .and_then(|code| code.getattr("co_filename"))
            .and_then(|name| name.extract::<String>());
        if file.is_ok_and(|f| f.starts_with("<frozen importlib._bootstrap")) {
            return true;
        }
        match frame.getattr("f_back") {
            Ok(back) if !back.is_none() => frame = back,
            _ => return false,
        }
    }
    false
}

type AddPendingCall = unsafe extern "C" fn(
    *mut pyo3::ffi::PyInterpreterState,
    extern "C" fn(*mut c_void) -> c_int,
    *mut c_void,
    c_int,
) -> c_int;
type InterpreterMain = unsafe extern "C" fn() -> *mut pyo3::ffi::PyInterpreterState;

/// The interpreter's own pending-call queue, on CPython 3.12+ when it exports it.
fn interpreter_queue() -> Option<&'static (AddPendingCall, InterpreterMain)> {
    static FOUND: OnceLock<Option<(AddPendingCall, InterpreterMain)>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            if PYTHON_VERSION.get().is_none_or(|v| *v < (3, 12)) {
                return None;
            }
            // SAFETY: dlsym on the running process; 3.12 to 3.14 export both with these
            // signatures (3.13's result is an enum of int size, 0 on success).
            unsafe {
                let add = libc::dlsym(libc::RTLD_DEFAULT, c"_PyEval_AddPendingCall".as_ptr());
                let main = libc::dlsym(libc::RTLD_DEFAULT, c"PyInterpreterState_Main".as_ptr());
                if add.is_null() || main.is_null() {
                    return None;
                }
                Some((
                    std::mem::transmute::<*mut c_void, AddPendingCall>(add),
                    std::mem::transmute::<*mut c_void, InterpreterMain>(main),
                ))
            }
        })
        .as_ref()
}

/// Queues `run_pending(arg)`; 0 when queued.
unsafe fn add_pending_call(arg: *mut c_void) -> c_int {
    match interpreter_queue() {
        // Any thread running Python may take it (flags 0): the job needs only the GIL.
        Some((add, main)) => add(main(), run_pending, arg, 0),
        None => pyo3::ffi::Py_AddPendingCall(Some(run_pending), arg),
    }
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
    // SAFETY: both may be called without the GIL; on failure (queue full) the reference we
    // handed over is ours again.
    if unsafe { add_pending_call(raw) } != 0 {
        drop(unsafe { Arc::from_raw(raw as *const Slot) });
    }
    WORKER.get().send(slot).ok()?;
    rx.recv().ok()
}
