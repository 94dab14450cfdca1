//! Python options (keyword arguments and/or a mapping) to the one `ProxyConfig` schema.
//!
//! Generic on purpose: the options become a JSON object that `ProxyConfig::from_json` reads,
//! so a field added to the core appears here with no change, and unknown or invalid options
//! get the core's own error naming the field.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyMapping, PyString, PyTuple};
use serde_json::{Map, Number, Value};
use toolhive_core::{Error, ProxyConfig};

use crate::errors::to_pyerr;

/// The field the positional URL fills.
const URL_FIELD: &str = "remote_url";

/// `start(url, options, **kwargs)` to a config. Keyword arguments override the mapping's entries
/// (as CLI flags override `--config`).
pub fn build(
    url: &Bound<'_, PyAny>,
    options: Option<&Bound<'_, PyAny>>,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<ProxyConfig> {
    let mut fields = Map::new();
    if let Some(options) = options.filter(|o| !o.is_none()) {
        let mapping = options.cast::<PyMapping>().map_err(|_| {
            to_pyerr(Error::new(
                toolhive_core::ErrorKind::InvalidConfig,
                format!(
                    "options must be a mapping of config fields (a dict), not {}",
                    type_name(options)
                ),
            ))
        })?;
        insert_all(&mut fields, mapping.items()?.iter(), "")?;
    }
    if let Some(kwargs) = kwargs {
        insert_all(&mut fields, kwargs.items().iter(), "")?;
    }
    if fields.contains_key(URL_FIELD) {
        return Err(to_pyerr(Error::invalid(
            URL_FIELD,
            "is given twice; pass the remote URL once, as the first argument",
        )));
    }
    fields.insert(URL_FIELD.to_owned(), to_json(url, URL_FIELD)?);
    ProxyConfig::from_json(&Value::Object(fields).to_string()).map_err(to_pyerr)
}

/// Copy `(key, value)` pairs into `fields`; `prefix` is the dotted path of the enclosing object.
fn insert_all<'py>(
    fields: &mut Map<String, Value>,
    items: impl Iterator<Item = Bound<'py, PyAny>>,
    prefix: &str,
) -> PyResult<()> {
    for item in items {
        let (key, value): (Bound<'py, PyAny>, Bound<'py, PyAny>) = item.extract()?;
        let Ok(key) = key.cast::<PyString>() else {
            return Err(to_pyerr(invalid(
                prefix,
                format!(
                    "option names must be strings, not {} ({})",
                    type_name(&key),
                    key.repr()?
                ),
            )));
        };
        let key: String = key.extract()?;
        let path = join(prefix, &key);
        fields.insert(key, to_json(&value, &path)?);
    }
    Ok(())
}

/// One Python value as JSON; `path` names it in errors (`health_check.interval_ms`).
fn to_json(value: &Bound<'_, PyAny>, path: &str) -> PyResult<Value> {
    if value.is_none() {
        return Ok(Value::Null);
    }
    // bool before int: True is an int in Python.
    if let Ok(b) = value.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if value.cast::<PyInt>().is_ok() {
        if let Ok(i) = value.extract::<i64>() {
            return Ok(Value::from(i));
        }
        if let Ok(u) = value.extract::<u64>() {
            return Ok(Value::from(u));
        }
        return Err(to_pyerr(invalid(
            path,
            format!("{} is out of range", value.repr()?),
        )));
    }
    if let Ok(f) = value.cast::<PyFloat>() {
        return match Number::from_f64(f.value()) {
            Some(n) => Ok(Value::Number(n)),
            None => Err(to_pyerr(invalid(
                path,
                format!("{} is not a finite number", f.repr()?),
            ))),
        };
    }
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(Value::String(s.extract()?));
    }
    if let Ok(mapping) = value.cast::<PyMapping>() {
        let mut fields = Map::new();
        insert_all(&mut fields, mapping.items()?.iter(), path)?;
        return Ok(Value::Object(fields));
    }
    if value.cast::<PyList>().is_ok() || value.cast::<PyTuple>().is_ok() {
        let mut items = Vec::new();
        for (i, item) in value.try_iter()?.enumerate() {
            items.push(to_json(&item?, &format!("{path}[{i}]"))?);
        }
        return Ok(Value::Array(items));
    }
    Err(to_pyerr(invalid(
        path,
        format!(
            "cannot use a value of type `{}`; use str, int, float, bool, None, list or dict",
            type_name(value)
        ),
    )))
}

fn invalid(path: &str, message: String) -> Error {
    if path.is_empty() {
        Error::new(toolhive_core::ErrorKind::InvalidConfig, message)
    } else {
        Error::invalid(path, message)
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "value".to_owned())
}
