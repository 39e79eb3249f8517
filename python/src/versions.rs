//! Keeping patched functions fast on CPython 3.13+.
//!
//! There, assigning `__code__` (or defaults, or annotations) sets the function's `func_version`
//! to 0, and the specialising interpreter gives up on a function with version 0: every call of
//! a patched function would take the generic path (1.19x a never-patched one on 3.13.0). CPython's
//! own rule is that a version is 0 or its code's version, and it exports
//! `_PyFunction_SetVersion`. The function struct is invisible to the stable ABI, so where its
//! version lives is found by a self-test at the first use: the field right after the
//! `vectorcall` pointer (found in a function made by `def` as the value `PyVectorcall_Function`
//! gives), and the code's version at the one offset of a code object where several probes'
//! codes hold their functions' versions.
//! When anything does not look as expected, nothing is done: patched functions are then only
//! slower, never wrong.

use std::ffi::c_void;
use std::sync::OnceLock;

use pyo3::prelude::*;
use pyo3::types::PyFunction;

type SetVersion = unsafe extern "C" fn(*mut pyo3::ffi::PyObject, u32);
type VectorcallOf = unsafe extern "C" fn(*mut pyo3::ffi::PyObject) -> *mut c_void;

struct Layout {
    set_version: SetVersion,
    /// The default `vectorcall` of functions: one with another is left alone.
    vectorcall: usize,
    /// Byte offsets: in a function object, of its vectorcall and version; in a code object, of
    /// its version.
    vectorcall_at: usize,
    version_at: usize,
    code_version_at: usize,
    /// Whether the version must be unset (0) before it is set: 3.14 marks a cleared version
    /// 1, and its debug builds assert that a version being set was unset.
    clear_first: bool,
}

static LAYOUT: OnceLock<Option<Layout>> = OnceLock::new();

fn layout(py: Python<'_>) -> Option<&'static Layout> {
    LAYOUT
        .get_or_init(|| find_layout(py).ok().flatten())
        .as_ref()
}

fn read<T: Copy>(object: &Bound<'_, PyAny>, at: usize) -> T {
    // SAFETY: callers pass offsets found inside the object by `find_layout`.
    unsafe { std::ptr::read_unaligned((object.as_ptr() as *const u8).add(at) as *const T) }
}

/// Versions below this are unset (0) or cleared (1, from 3.14 on).
const FIRST_VALID: u32 = 2;

/// Writes a function's version field directly: only to unset a cleared version, which has no
/// entry in the interpreter's version cache any more.
unsafe fn write_version(function: &Bound<'_, PyAny>, at: usize, version: u32) {
    std::ptr::write_unaligned((function.as_ptr() as *mut u8).add(at) as *mut u32, version);
}

const PROBES: &std::ffi::CStr =
    c"def a(): return 1\ndef b(x): return x\ndef c(x, y): return x + y\n";

fn find_layout(py: Python<'_>) -> PyResult<Option<Layout>> {
    let version = py.version_info();
    if (version.major, version.minor) < (3, 13) {
        return Ok(None);
    }
    // SAFETY: dlsym on the running process.
    let (set, vectorcall_of) = unsafe {
        (
            libc::dlsym(libc::RTLD_DEFAULT, c"_PyFunction_SetVersion".as_ptr()),
            libc::dlsym(libc::RTLD_DEFAULT, c"PyVectorcall_Function".as_ptr()),
        )
    };
    if set.is_null() || vectorcall_of.is_null() {
        return Ok(None);
    }
    // SAFETY: the exported functions have these signatures in 3.13 and 3.14.
    let (set_version, vectorcall_of) = unsafe {
        (
            std::mem::transmute::<*mut c_void, SetVersion>(set),
            std::mem::transmute::<*mut c_void, VectorcallOf>(vectorcall_of),
        )
    };
    // Functions made by running `def`, as the program's are: each has its code's version.
    let namespace = pyo3::types::PyDict::new(py);
    py.run(PROBES, Some(&namespace), None)?;
    let probes: Vec<Bound<'_, PyAny>> = ["a", "b", "c"]
        .iter()
        .map(|name| namespace.get_item(name).map(|f| f.expect("defined above")))
        .collect::<PyResult<_>>()?;
    let first = &probes[0];
    // SAFETY: a live function object, the GIL held.
    let vectorcall = unsafe { vectorcall_of(first.as_ptr()) } as usize;
    let size = first
        .get_type()
        .getattr("__basicsize__")?
        .extract::<usize>()?;
    let pointer = std::mem::size_of::<usize>();
    let Some(vectorcall_at) = (0..size.saturating_sub(pointer))
        .step_by(pointer)
        .find(|at| vectorcall != 0 && read::<usize>(first, *at) == vectorcall)
    else {
        return Ok(None);
    };
    let version_at = vectorcall_at + pointer;
    if version_at + 4 > size {
        return Ok(None);
    }
    let versions: Vec<u32> = probes.iter().map(|f| read::<u32>(f, version_at)).collect();
    if versions.contains(&0) || versions[0] == versions[1] || versions[1] == versions[2] {
        return Ok(None);
    }
    // The code's version: the one offset where each probe's code holds its function's version.
    let codes: Vec<Bound<'_, PyAny>> = probes
        .iter()
        .map(|f| f.getattr("__code__"))
        .collect::<PyResult<_>>()?;
    let code_size = codes[0]
        .get_type()
        .getattr("__basicsize__")?
        .extract::<usize>()?;
    let Some(code_version_at) = (0..code_size.saturating_sub(4)).step_by(4).find(|at| {
        codes
            .iter()
            .zip(&versions)
            .all(|(c, v)| read::<u32>(c, *at) == *v)
    }) else {
        return Ok(None);
    };
    // Assigning the code clears the version (0, or 1 from 3.14 on); setting it back reads back.
    first.setattr("__code__", &codes[0])?;
    let cleared = read::<u32>(first, version_at);
    let clear_first = (version.major, version.minor) >= (3, 14);
    if cleared >= FIRST_VALID {
        return Ok(None);
    }
    // SAFETY: a plain function object, the GIL held; the field is the version (checked above).
    unsafe {
        if clear_first {
            write_version(first, version_at, 0);
        }
        set_version(first.as_ptr(), versions[0]);
    }
    if read::<u32>(first, version_at) != versions[0] {
        return Ok(None);
    }
    Ok(Some(Layout {
        set_version,
        vectorcall,
        vectorcall_at,
        version_at,
        code_version_at,
        clear_first,
    }))
}

/// Gives `function` its code's version again, as `def` gives a function.
pub fn restore(py: Python<'_>, function: &Bound<'_, PyAny>) {
    let Some(layout) = layout(py) else { return };
    let Ok(function) = function.cast::<PyFunction>() else {
        return;
    };
    if read::<usize>(function.as_any(), layout.vectorcall_at) != layout.vectorcall
        || read::<u32>(function.as_any(), layout.version_at) >= FIRST_VALID
    {
        return;
    }
    let Ok(code) = function.getattr("__code__") else {
        return;
    };
    let version = read::<u32>(&code, layout.code_version_at);
    if version == 0 {
        return;
    }
    // SAFETY: a plain function object with the default vectorcall, the GIL held.
    unsafe {
        if layout.clear_first {
            write_version(function.as_any(), layout.version_at, 0);
        }
        (layout.set_version)(function.as_ptr(), version);
    }
}

/// Attribute names whose assignment clears a function's version.
pub fn clears_version(name: &str) -> bool {
    matches!(
        name,
        "__code__" | "__defaults__" | "__kwdefaults__" | "__annotations__"
    )
}
