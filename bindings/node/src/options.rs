//! The Node options object <-> the one `ProxyConfig` JSON schema, with no field list here.
//!
//! JS code writes `{ remoteUrl, allowHttp, healthCheck: { intervalMs } }`; the schema says
//! `remote_url`, `allow_http`, `health_check.interval_ms`. Keys are converted generically
//! (camelCase identifier -> snake_case) and core's `ProxyConfig::from_json` does all parsing and
//! validation, so a field added to core works from Node at once. Errors come back with the
//! names converted to what the user wrote (`healthCheck.intervalMs: must be greater than 0`).
//!
//! Only keys that look like JS identifiers in camelCase (`^[a-z][A-Za-z0-9]*$` with an upper
//! case letter) are converted; anything else (`X-Api-Key`, `authorization`, `MY_VAR`,
//! `remote_url`) is passed on unchanged, so map-like fields keyed by header names or the like
//! keep their keys.

use std::collections::HashMap;

use serde_json::{Map, Value};
use toolhive_core::{Error, ErrorKind};

/// Schema names -> the user's spelling, and the string values the user gave (never rewritten
/// inside messages: a host `my_host` must stay `my_host`). No `Debug`: values may be secrets.
#[derive(Default)]
pub struct Words {
    names: HashMap<String, String>,
    values: Vec<String>,
}

/// `remoteUrl` -> `remote_url`; `None` when the key is not a camelCase identifier.
pub fn snake_case(key: &str) -> Option<String> {
    let bytes = key.as_bytes();
    let camel = bytes.first().is_some_and(u8::is_ascii_lowercase)
        && bytes.iter().all(u8::is_ascii_alphanumeric)
        && bytes.iter().any(u8::is_ascii_uppercase);
    if !camel {
        return None;
    }
    let mut out = String::with_capacity(key.len() + 4);
    for (i, &b) in bytes.iter().enumerate() {
        if b.is_ascii_uppercase() {
            let prev = bytes[i - 1];
            let next_lower = bytes.get(i + 1).is_some_and(u8::is_ascii_lowercase);
            // fooBar -> foo_bar, foo2Bar -> foo2_bar, allowHTTP -> allow_http,
            // HTTPServer inside a key -> http_server.
            if !prev.is_ascii_uppercase() || next_lower {
                out.push('_');
            }
            out.push(b.to_ascii_lowercase() as char);
        } else {
            out.push(b as char);
        }
    }
    Some(out)
}

/// `snake_case` identifier (lower case, at least one `_` between words).
fn is_snake(word: &str) -> bool {
    let mut parts = word.split('_');
    let first_ok = parts.next().is_some_and(|p| {
        p.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    });
    let mut rest = 0;
    let rest_ok = parts.all(|p| {
        rest += 1;
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    });
    first_ok && rest > 0 && rest_ok
}

/// `health_check` -> `healthCheck`.
pub fn camel_case(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Convert every object key of `value` that is camelCase into snake_case, remembering the
/// user's spelling of every key and every string value.
fn convert(value: Value, words: &mut Words) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, v)| {
                    let schema = snake_case(&key).unwrap_or_else(|| key.clone());
                    words.names.entry(schema.clone()).or_insert(key);
                    (schema, convert(v, words))
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| convert(v, words)).collect()),
        Value::String(s) => {
            words.values.push(s.clone());
            Value::String(s)
        }
        other => other,
    }
}

/// The schema name of the remote URL: the one place the binding names a field, because
/// `start(url, options)` takes it as its own argument.
const REMOTE_URL: &str = "remote_url";

/// Build the `ProxyConfig` JSON from `start(remoteUrl, options)`'s arguments, both already
/// JSON values (`options` as `JSON.stringify` gave it; `None` for undefined/null); also what is
/// needed to speak about it in the user's words.
pub fn translate(remote_url: Value, options: Option<Value>) -> (Result<String, Error>, Words) {
    let mut words = Words::default();
    let json = to_config_json(remote_url, options, &mut words);
    (json, words)
}

fn to_config_json(
    remote_url: Value,
    options: Option<Value>,
    words: &mut Words,
) -> Result<String, Error> {
    let mut map = match options.map(|o| convert(o, words)) {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map,
        Some(other) => {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                format!(
                    "options must be an object such as {{ name: 'example' }}, not {}",
                    json_kind(&other)
                ),
            ));
        }
    };
    words
        .names
        .entry(REMOTE_URL.to_owned())
        .or_insert_with(|| camel_case(REMOTE_URL));
    if map.contains_key(REMOTE_URL) {
        return Err(Error::invalid(
            REMOTE_URL,
            "is given twice: as the first argument of start() and in options; give it once",
        ));
    }
    if let Value::String(s) = &remote_url {
        words.values.push(s.clone());
    }
    map.insert(REMOTE_URL.to_owned(), remote_url);
    Ok(serde_json::to_string(&Value::Object(map)).expect("JSON values serialize"))
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Words {
    /// Words for speaking about something other than options: `values` (proxy names, secret
    /// names) are never rewritten.
    pub fn with_values(values: impl IntoIterator<Item = String>) -> Self {
        Words {
            names: HashMap::new(),
            values: values.into_iter().collect(),
        }
    }

    /// Replace every identifier-like word of `text` (runs of `[A-Za-z0-9_]`) that is a schema
    /// name by the user's spelling, or, when the user did not write it, by its camelCase form,
    /// unless the word is part of a value the user gave, or of a path or secret key (next to a
    /// `/`: `proxy/x/bearer_token`, `/tmp/my_dir`).
    pub fn rewrite(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut word = String::new();
        let mut before: Option<char> = None;
        let flush =
            |word: &mut String, out: &mut String, before: Option<char>, after: Option<char>| {
                let in_path = before == Some('/') || after == Some('/');
                if let Some(user) = self.names.get(word.as_str()).filter(|_| !in_path) {
                    out.push_str(user);
                } else if is_snake(word)
                    && !in_path
                    && !self.values.iter().any(|v| v.contains(word.as_str()))
                {
                    out.push_str(&camel_case(word));
                } else {
                    out.push_str(word);
                }
                word.clear();
            };
        for c in text.chars() {
            if c.is_ascii_alphanumeric() || c == '_' {
                word.push(c);
            } else {
                if !word.is_empty() {
                    flush(&mut word, &mut out, before, Some(c));
                }
                out.push(c);
                before = Some(c);
            }
        }
        if !word.is_empty() {
            flush(&mut word, &mut out, before, None);
        }
        out
    }

    /// The error's field in the user's words (`healthCheck.intervalMs`).
    pub fn field(&self, err: &Error) -> Option<String> {
        err.field().map(|f| self.rewrite(f))
    }

    /// The error's message (`field: message`) in the user's words.
    pub fn message(&self, err: &Error) -> String {
        let message = self.rewrite(strip_json_position(err.message()));
        match self.field(err) {
            Some(field) => format!("{field}: {message}"),
            None => message,
        }
    }
}

/// serde_json's " at line 1 column 7" points into JSON the user never saw: drop it.
fn strip_json_position(message: &str) -> &str {
    if let Some(at) = message.rfind(" at line ") {
        let tail = &message[at + " at line ".len()..];
        if let Some((line, column)) = tail.split_once(" column ")
            && !line.is_empty()
            && line.bytes().all(|b| b.is_ascii_digit())
            && !column.is_empty()
            && column.bytes().all(|b| b.is_ascii_digit())
        {
            return &message[..at];
        }
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use toolhive_core::ProxyConfig;

    #[test]
    fn keys() {
        for (camel, snake) in [
            ("remoteUrl", Some("remote_url")),
            ("maxRequestBodyBytes", Some("max_request_body_bytes")),
            ("allowHTTP", Some("allow_http")),
            ("useHTTPServer", Some("use_http_server")),
            ("foo2Bar", Some("foo2_bar")),
            ("port", None),
            ("remote_url", None),
            ("X-Api-Key", None),
            ("Authorization", None),
            ("MY_VAR", None),
            ("", None),
        ] {
            assert_eq!(snake_case(camel).as_deref(), snake, "{camel}");
        }
        assert_eq!(camel_case("health_check"), "healthCheck");
        assert_eq!(camel_case("max_request_body_bytes"), "maxRequestBodyBytes");
        assert!(is_snake("allow_http") && is_snake("a1_b2"));
        assert!(!is_snake("allow") && !is_snake("Allow_http") && !is_snake("a__b"));
    }

    fn start(url: &str, options: Value) -> Result<ProxyConfig, String> {
        let (json, words) = translate(json!(url), Some(options));
        let json = json.map_err(|e| words.message(&e))?;
        ProxyConfig::from_json(&json).map_err(|e| words.message(&e))
    }

    /// Also core's validation (for errors found there, e.g. a bad host).
    fn validate(url: &str, options: Value) -> Result<(), String> {
        let (json, words) = translate(json!(url), Some(options));
        let config = ProxyConfig::from_json(&json.map_err(|e| words.message(&e))?)
            .map_err(|e| words.message(&e))?;
        config.validate().map(|_| ()).map_err(|e| words.message(&e))
    }

    #[test]
    fn maps_onto_the_schema() {
        let c = start(
            "https://mcp.example.com/mcp",
            json!({"name": "x", "allowHttp": true, "healthCheck": {"intervalMs": 5}, "stopGraceMs": 7}),
        )
        .unwrap();
        assert_eq!(c.name.as_deref(), Some("x"));
        assert!(c.allow_http);
        assert_eq!(c.health_check.unwrap().interval_ms, 5);
        assert_eq!(c.stop_grace_ms, 7);
    }

    #[test]
    fn errors_speak_camel_case() {
        let e = start(
            "https://x.example/mcp",
            json!({"healthCheck": {"intervalMs": "soon"}}),
        )
        .unwrap_err();
        assert!(e.starts_with("healthCheck.intervalMs: "), "{e}");
        let e = start("https://x.example/mcp", json!({"prot": 1})).unwrap_err();
        assert!(e.contains("`prot`") && e.contains("`remoteUrl`"), "{e}");
        assert!(!e.contains(" at line "), "{e}");
        assert!(
            !e.contains("remote_url") && !e.contains("allow_http"),
            "{e}"
        );
        // A value the user gave is never rewritten.
        let e = validate("https://x.example/mcp", json!({"host": "my_host"})).unwrap_err();
        assert!(e.starts_with("host: ") && e.contains("`my_host`"), "{e}");
        // The user's own spelling comes back.
        let e = start("https://x.example/mcp", json!({"stop_grace_ms": "x"})).unwrap_err();
        assert!(e.starts_with("stop_grace_ms: "), "{e}");
        // Paths and secret keys keep their words.
        let w = Words::with_values(["my_proxy".to_owned()]);
        assert_eq!(
            w.rewrite("get `proxy/my_proxy/bearer_token` in /tmp/state_dir/x: check bearer_token"),
            "get `proxy/my_proxy/bearer_token` in /tmp/state_dir/x: check bearerToken"
        );
        assert_eq!(
            w.rewrite("no proxy named `my_proxy`"),
            "no proxy named `my_proxy`"
        );
    }

    #[test]
    fn options_shape() {
        let e = translate(json!("https://x.example/mcp"), Some(json!([1])))
            .0
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        let (e, w) = translate(
            json!("https://x.example/mcp"),
            Some(json!({"remoteUrl": "https://y.example/mcp"})),
        );
        assert!(
            w.message(&e.unwrap_err())
                .starts_with("remoteUrl: is given twice")
        );
        let json = translate(json!("https://x.example/mcp"), None).0.unwrap();
        assert!(ProxyConfig::from_json(&json).is_ok());
    }
}
