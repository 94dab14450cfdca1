//! Values across the boundary: core errors -> JS `Error`s with a `code`, events and other
//! core JSON -> JS objects with camelCase keys, JS values -> JSON, timestamps -> `Date`.

use std::time::{SystemTime, UNIX_EPOCH};

use napi::bindgen_prelude::{
    FromNapiValue, JsObjectValue, Object, ToNapiValue, TypeName, Unknown, ValidateNapiValue,
};
use napi::{Env, JsValue, ValueType, sys};
use serde_json::Value;
use toolhive_core::{Error, ErrorKind, EventKind, ProxyEvent};

use crate::options::{Words, camel_case};

/// A JS `Error` for a core error: `message` as core says it but in the user's words, `code` =
/// the stable error kind (`'invalid_config'`), `field` = the option it is about (if any).
pub(crate) fn js_error(env: &Env, err: &Error, words: Option<&Words>) -> napi::Error {
    let plain = Words::default();
    let words = words.unwrap_or(&plain);
    match build_error(env, err.kind(), &words.message(err), words.field(err)) {
        Ok(err) => err,
        Err(e) => e,
    }
}

/// A JS `Error` with `code` (and `field`), as a `napi::Error` that rejects/throws that very
/// object.
pub(crate) fn build_error(
    env: &Env,
    kind: ErrorKind,
    message: &str,
    field: Option<String>,
) -> napi::Result<napi::Error> {
    let obj = error_object(env, kind, message, field)?;
    Ok(napi::Error::from(obj.to_unknown()))
}

/// The JS `Error` object itself (for errors that are values, e.g. `restore()` results).
pub(crate) fn error_object<'env>(
    env: &'env Env,
    kind: ErrorKind,
    message: &str,
    field: Option<String>,
) -> napi::Result<Object<'env>> {
    let code = env.create_string(kind.as_str())?;
    let msg = env.create_string(message)?;
    let mut raw = std::ptr::null_mut();
    // SAFETY: env is the live env of this call; both strings belong to it.
    let status = unsafe { sys::napi_create_error(env.raw(), code.raw(), msg.raw(), &mut raw) };
    if status != sys::Status::napi_ok {
        return Err(napi::Error::new(napi::Status::GenericFailure, message));
    }
    // SAFETY: `raw` was just created in this env.
    let mut obj = Object::from_raw(env.raw(), raw);
    if let Some(field) = field {
        obj.set_named_property("field", field)?;
    }
    Ok(obj)
}

/// "a number", "an object", ... for messages about a JS value of type `t`.
pub(crate) fn a_type(t: ValueType) -> &'static str {
    match t {
        ValueType::Undefined => "undefined",
        ValueType::Null => "null",
        ValueType::Boolean => "a boolean",
        ValueType::Number => "a number",
        ValueType::String => "a string",
        ValueType::Symbol => "a symbol",
        ValueType::Object => "an object",
        ValueType::Function => "a function",
        ValueType::External => "an external",
        ValueType::BigInt => "a bigint",
        _ => "an unknown value",
    }
}

/// Report an error as an uncaught exception (`process.on('uncaughtException')`), the way an
/// exception thrown by an I/O callback is.
pub(crate) fn report_uncaught(env: &Env, err: napi::Error) {
    let value = unsafe { napi::JsError::from(err).into_value(env.raw()) };
    if !value.is_null() {
        // SAFETY: value belongs to env; fatal_exception only schedules the uncaught handler.
        unsafe { sys::napi_fatal_exception(env.raw(), value) };
    }
}

/// JSON whose objects keep their keys in document order, renamed to camelCase when it is
/// serialized (core JSON speaks snake_case). serde_json's own `Map` sorts keys unless its
/// `preserve_order` feature is on, which would change serde_json for the whole workspace.
enum Json {
    Scalar(Value),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl<'de> serde::Deserialize<'de> for Json {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Json;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
                Ok(Json::Scalar(Value::Bool(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
                Ok(Json::Scalar(Value::from(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
                Ok(Json::Scalar(Value::from(v)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
                Ok(Json::Scalar(Value::from(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Json, E> {
                Ok(Json::Scalar(Value::from(v)))
            }
            fn visit_string<E>(self, v: String) -> Result<Json, E> {
                Ok(Json::Scalar(Value::from(v)))
            }
            fn visit_unit<E>(self) -> Result<Json, E> {
                Ok(Json::Scalar(Value::Null))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Json, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = a.next_element()? {
                    items.push(item);
                }
                Ok(Json::Array(items))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Json, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = a.next_entry()? {
                    entries.push(entry);
                }
                Ok(Json::Object(entries))
            }
        }
        d.deserialize_any(V)
    }
}

impl serde::Serialize for Json {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            Json::Scalar(v) => v.serialize(s),
            Json::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Json::Object(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(&camel_case(k), v)?;
                }
                map.end()
            }
        }
    }
}

/// Core JSON text -> a JS value with camelCase keys, in core's key order.
pub(crate) fn json_to_js<'env>(env: &'env Env, json: &str) -> napi::Result<Unknown<'env>> {
    let json: Json = serde_json::from_str(json)
        .map_err(|e| napi::Error::from_reason(format!("core JSON: {e}")))?;
    env.to_js_value(&json)
}

/// A core event as a JS object: core's event JSON with camelCase keys, so kinds added to core
/// later arrive with all their fields without a change here. The auth state of
/// `auth_state_changed` is the `AuthState` object of `list()` (with `Date`s).
pub(crate) fn event_to_js<'env>(env: &'env Env, event: &ProxyEvent) -> napi::Result<Unknown<'env>> {
    let value = json_to_js(env, &event.to_json())?;
    if let EventKind::AuthStateChanged { state } = &event.kind {
        // SAFETY: core events are JSON objects.
        let mut obj = Object::from_raw(env.raw(), value.raw());
        obj.set_named_property("state", crate::proxy::AuthState::from(state))?;
    }
    Ok(value)
}

/// `JSON.stringify(value)` parsed: undefined and functions vanish, `toJSON` applies, as every
/// JS developer expects of "an options object as JSON". `None` for undefined/null.
pub(crate) fn js_to_json(env: &Env, value: Unknown<'_>) -> Result<Option<Value>, String> {
    match value.get_type() {
        Ok(ValueType::Undefined | ValueType::Null) => return Ok(None),
        Ok(ValueType::String) => {
            return unknown_to_string(value)
                .map(|s| Some(Value::String(s)))
                .map_err(|e| e.reason);
        }
        _ => {}
    }
    let text: Unknown<'_> = (|| {
        let json: Object<'_> = env.get_global()?.get_named_property_unchecked("JSON")?;
        let stringify: napi::bindgen_prelude::Function<'_, Unknown<'_>, Unknown<'_>> =
            json.get_named_property_unchecked("stringify")?;
        // `call` (not `apply`) turns a thrown TypeError (BigInt, cycles) into an Err and
        // clears it; JSON.stringify does not need `this`.
        stringify.call(value)
    })()
    .map_err(|e| format!("cannot be converted to JSON ({})", e.reason))?;
    if text.get_type().map_err(|e| e.reason)? != ValueType::String {
        return Ok(None);
    }
    let text = unknown_to_string(text).map_err(|e| e.reason)?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| format!("cannot be converted to JSON ({e})"))
}

fn unknown_to_string(value: Unknown<'_>) -> napi::Result<String> {
    let v = value.value();
    // SAFETY: value is a live value of its env.
    unsafe { String::from_napi_value(v.env, v.value) }
}

/// A point in time that becomes a JS `Date`.
#[derive(Debug, Clone, Copy)]
pub struct Timestamp(pub SystemTime);

impl TypeName for Timestamp {
    fn type_name() -> &'static str {
        "Date"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ValidateNapiValue for Timestamp {}

impl FromNapiValue for Timestamp {
    unsafe fn from_napi_value(_: sys::napi_env, _: sys::napi_value) -> napi::Result<Self> {
        Err(napi::Error::from_reason("a Date is output only here"))
    }
}

impl ToNapiValue for Timestamp {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        let ms = match val.0.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_secs_f64() * 1000.0,
            Err(e) => -(e.duration().as_secs_f64() * 1000.0),
        };
        let mut out = std::ptr::null_mut();
        napi::check_status!(unsafe { sys::napi_create_date(env, ms, &mut out) })?;
        Ok(out)
    }
}
