//! Core errors to `toolhive.ToolhiveError` subclasses (python/toolhive/_errors.py), chosen by the
//! core's stable kind name; a kind without a subclass (added to the core later) raises the base
//! class with the same `.kind`.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use toolhive_core::Error;

/// The Python exception for a core error: `.kind`, `.field`, `.message`; `str()` is the core's
/// Display (`"port: ..."`).
pub fn to_pyerr(err: Error) -> PyErr {
    if crate::runtime::exiting_elsewhere() {
        // No attaching while the interpreter exits (nobody will see this error anyway).
        return pyo3::exceptions::PyRuntimeError::new_err(err.to_string());
    }
    Python::attach(|py| build(py, &err).unwrap_or_else(|failed| failed))
}

fn build(py: Python<'_>, err: &Error) -> PyResult<PyErr> {
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
