//! Core errors to `toolhive.ToolhiveError` subclasses (python/toolhive/_errors.py), chosen by the
//! core's stable kind name. The kinds come from the core (`ErrorKind::ALL`, exported as
//! `_native.ERROR_KINDS`): `_errors.py` has a documented class for each kind it knows and makes
//! one for any kind the core added since, so every kind raises its own subclass.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use toolhive_core::{Error, ErrorKind};

/// `_native.ERROR_KINDS`: every core error kind's name, in the core's order.
pub fn kinds(py: Python<'_>) -> PyResult<Bound<'_, PyTuple>> {
    PyTuple::new(py, ErrorKind::ALL.iter().map(|kind| kind.as_str()))
}

/// The Python exception for a core error: `.kind`, `.field`, `.message`; `str()` is the core's
/// Display (`"port: ..."`).
pub fn to_pyerr(err: Error) -> PyErr {
    if crate::runtime::exiting_elsewhere() {
        // No attaching while the interpreter exits (nobody will see this error anyway).
        return pyo3::exceptions::PyRuntimeError::new_err(err.to_string());
    }
    Python::attach(|py| build(py, &err).unwrap_or_else(|failed| failed))
}

/// The exception for `err`, built with the GIL held.
pub fn build(py: Python<'_>, err: &Error) -> PyResult<PyErr> {
    let module = py.import("toolhive._errors")?;
    let kind = err.kind().as_str();
    let class = match module.getattr("ERRORS_BY_KIND")?.get_item(kind) {
        Ok(class) => class,
        Err(_) => module.getattr("ToolhiveError")?,
    };
    let kwargs = PyDict::new(py);
    kwargs.set_item("kind", kind)?;
    kwargs.set_item("field", err.field())?;
    let exc = class.call((err.message(),), Some(&kwargs))?;
    Ok(PyErr::from_value(exc))
}
