//! The fast half of runtime feedback: `__splice_report__`, called by the handler compiled around
//! every patched body with the exception being handled. It counts raises per place here, in
//! native code, and hands only the first of a place, and then one raise in 64, to
//! `splice.feedback.report_counted`, which reports them at a bounded rate. So a flood of
//! exceptions costs a counter per raise. It never raises.

use std::collections::HashMap;
use std::sync::Mutex;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyTuple;

/// Raises counted between two hand-overs to Python after the first.
const HAND_OVER_EVERY: u64 = 64;

/// A place an exception is raised from: (code object, line, exception type), by address.
type Place = (usize, i64, usize);

/// Raises so far, per place.
static COUNTS: Mutex<Option<HashMap<Place, u64>>> = Mutex::new(None);
static NOT_REPORTED: PyOnceLock<Py<PyTuple>> = PyOnceLock::new();

fn not_reported(py: Python<'_>) -> PyResult<&Py<PyTuple>> {
    NOT_REPORTED.get_or_try_init(py, || {
        let builtins = py.import("builtins")?;
        let names = [
            "GeneratorExit",
            "StopIteration",
            "StopAsyncIteration",
            "KeyboardInterrupt",
            "SystemExit",
        ];
        let kinds = names
            .iter()
            .map(|name| builtins.getattr(*name))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(PyTuple::new(py, kinds)?.unbind())
    })
}

#[pyfunction]
pub fn report(py: Python<'_>) {
    let _ = count_and_hand_over(py);
}

fn count_and_hand_over(py: Python<'_>) -> PyResult<()> {
    let (mut kind, mut value, mut traceback) = (
        std::ptr::null_mut(),
        std::ptr::null_mut(),
        std::ptr::null_mut(),
    );
    // SAFETY: PyErr_GetExcInfo hands out new references (or nulls) to the handled exception.
    let (kind, value, traceback) = unsafe {
        pyo3::ffi::PyErr_GetExcInfo(&mut kind, &mut value, &mut traceback);
        (
            Bound::from_owned_ptr_or_opt(py, kind),
            Bound::from_owned_ptr_or_opt(py, value),
            Bound::from_owned_ptr_or_opt(py, traceback),
        )
    };
    let (Some(kind), Some(value), Some(traceback)) = (kind, value, traceback) else {
        return Ok(());
    };
    // SAFETY: both are live objects; the call only compares types.
    if unsafe { pyo3::ffi::PyErr_GivenExceptionMatches(kind.as_ptr(), not_reported(py)?.as_ptr()) }
        != 0
    {
        return Ok(());
    }
    // The handler's own frame comes first in the traceback: the exception is caught there.
    let line: i64 = traceback.getattr(intern!(py, "tb_lineno"))?.extract()?;
    let code = traceback
        .getattr(intern!(py, "tb_frame"))?
        .getattr(intern!(py, "f_code"))?;
    let key = (code.as_ptr() as usize, line, kind.as_ptr() as usize);
    let count = {
        let mut counts = COUNTS.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts
            .get_or_insert_with(HashMap::new)
            .entry(key)
            .or_insert(0);
        *count += 1;
        *count
    };
    if count > 1 && count % HAND_OVER_EVERY != 0 {
        return Ok(());
    }
    py.import(intern!(py, "splice.feedback"))?
        .call_method1(intern!(py, "report_counted"), (value, traceback, count))?;
    Ok(())
}

/// Forgets the counts of a code object: a new one may be allocated where a freed one was.
#[pyfunction]
pub fn forget_counts(code_id: usize) {
    let mut counts = COUNTS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(counts) = counts.as_mut() {
        counts.retain(|(code, _, _), _| *code != code_id);
    }
}
