//! A secret store implemented by a JS object (`configure({ secretStore: { get, set, delete,
//! list } })`), e.g. over VS Code's `SecretStorage`: core's `SecretStore` over threadsafe
//! functions.
//!
//! Core calls the store from its worker threads; each call is queued to the JS thread, where the
//! method runs with the object as `this`; a returned Promise (or thenable) is awaited on the
//! Rust side, so the JS thread is never blocked. A throw or a rejection becomes a core `secret`
//! error naming the store, the operation and the key (never a value). The threadsafe functions
//! are weak: the store never keeps the process alive.

use napi::bindgen_prelude::{
    FnArgs, FromNapiValue, Function, JsObjectValue, Object, Promise, Unknown,
};
use napi::threadsafe_function::ThreadsafeFunction;
use napi::{Env, JsValue, Status, ValueType, sys};
use toolhive_core::secrets::{BoxFuture, Secret, SecretStore};
use toolhive_core::{Error, ErrorKind};

/// What a method returned: a value now, or a Promise of one.
enum Reply<T: FromNapiValue + 'static> {
    Now(T),
    Later(Promise<T>),
}

impl<T: FromNapiValue + 'static> FromNapiValue for Reply<T> {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> napi::Result<Self> {
        let mut is_promise = false;
        // SAFETY: env and value come from the call of the JS method.
        unsafe { sys::napi_is_promise(env, value, &mut is_promise) };
        if is_promise {
            return Ok(Reply::Later(unsafe {
                Promise::from_napi_value(env, value)
            }?));
        }
        if let Some(promise) = unsafe { thenable_as_promise(env, value) }? {
            return Ok(Reply::Later(unsafe {
                Promise::from_napi_value(env, promise)
            }?));
        }
        Ok(Reply::Now(unsafe { T::from_napi_value(env, value) }?))
    }
}

/// `Promise.resolve(value)` for a thenable that is not a native Promise; `None` otherwise.
unsafe fn thenable_as_promise(
    env: sys::napi_env,
    value: sys::napi_value,
) -> napi::Result<Option<sys::napi_value>> {
    let env = Env::from_raw(env);
    let value = unsafe { Unknown::from_napi_value(env.raw(), value) }?;
    if value.get_type()? != ValueType::Object {
        return Ok(None);
    }
    let object: Object<'_> = unsafe { Object::from_napi_value(env.raw(), value.raw()) }?;
    if object
        .get_named_property_unchecked::<Unknown<'_>>("then")?
        .get_type()?
        != ValueType::Function
    {
        return Ok(None);
    }
    let promise_ctor: Object<'_> = env.get_global()?.get_named_property_unchecked("Promise")?;
    let resolve: Function<'_, Unknown<'_>, Unknown<'_>> =
        promise_ctor.get_named_property_unchecked("resolve")?;
    Ok(Some(resolve.apply(promise_ctor, value)?.raw()))
}

impl<T: FromNapiValue + Send + 'static> Reply<T> {
    async fn value(self) -> napi::Result<T> {
        match self {
            Reply::Now(value) => Ok(value),
            Reply::Later(promise) => promise.await,
        }
    }
}

/// `get` answers a string, or null/undefined for a missing key.
struct MaybeString(Option<String>);

impl FromNapiValue for MaybeString {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> napi::Result<Self> {
        let value = unsafe { Unknown::from_napi_value(env, value) }?;
        match value.get_type()? {
            ValueType::Undefined | ValueType::Null => Ok(MaybeString(None)),
            ValueType::String => Ok(MaybeString(Some(unsafe {
                String::from_napi_value(env, value.raw())
            }?))),
            other => Err(napi::Error::new(
                Status::InvalidArg,
                format!(
                    "it answered {} instead of a string, null or undefined",
                    crate::convert::a_type(other)
                ),
            )),
        }
    }
}

/// `set` and `delete` answer anything (their value is ignored).
struct Ignored;

impl FromNapiValue for Ignored {
    unsafe fn from_napi_value(_: sys::napi_env, _: sys::napi_value) -> napi::Result<Self> {
        Ok(Ignored)
    }
}

/// `list` answers an array of strings.
struct Keys(Vec<String>);

impl FromNapiValue for Keys {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> napi::Result<Self> {
        let wrong = || {
            napi::Error::new(
                Status::InvalidArg,
                "it did not answer an array of strings".to_owned(),
            )
        };
        let mut is_array = false;
        unsafe { sys::napi_is_array(env, value, &mut is_array) };
        if !is_array {
            return Err(wrong());
        }
        unsafe { Vec::<String>::from_napi_value(env, value) }
            .map(Keys)
            .map_err(|_| wrong())
    }
}

type Tsfn<Args, Return> = ThreadsafeFunction<Args, Reply<Return>, Args, Status, false, true>;

/// The JS object's methods, bound to it.
pub(crate) struct JsSecretStore {
    kind: String,
    get: Tsfn<String, MaybeString>,
    set: Tsfn<FnArgs<(String, String)>, Ignored>,
    delete: Tsfn<String, Ignored>,
    list: Tsfn<(), Keys>,
}

/// The method `name` of `object`, bound to it, as a weak threadsafe function.
fn method<Args, Return>(
    object: &Object<'_>,
    name: &str,
) -> std::result::Result<Tsfn<Args, Return>, String>
where
    Args: napi::bindgen_prelude::JsValuesTupleIntoVec + 'static,
    Return: FromNapiValue + 'static,
{
    let value: Unknown<'_> = object
        .get_named_property_unchecked(name)
        .map_err(|e| e.reason.clone())?;
    if value.get_type().map_err(|e| e.reason.clone())? != ValueType::Function {
        return Err(format!("secretStore.{name}: must be a function"));
    }
    let env = value.value().env;
    // SAFETY: checked to be a function of this env.
    let func: Function<'_, Args, Reply<Return>> =
        unsafe { Function::from_napi_value(env, value.raw()) }.map_err(|e| e.reason.clone())?;
    // `object` is a live object of the same env.
    let this = Object::from_raw(env, object.raw());
    func.bind(this)
        .and_then(|bound| {
            bound
                .build_threadsafe_function::<Args>()
                .weak::<true>()
                .callee_handled::<false>()
                .build_callback(|ctx| Ok(ctx.value))
        })
        .map_err(|e| format!("secretStore.{name}: {}", e.reason))
}

impl JsSecretStore {
    /// From `{ get, set, delete, list, kind? }`; `Err` is the message of an `invalid_config`
    /// error about `secretStore`.
    pub fn new(object: &Object<'_>) -> std::result::Result<Self, String> {
        let kind = match object.get_named_property_unchecked::<Unknown<'_>>("kind") {
            Ok(v) if v.get_type().ok() == Some(ValueType::String) => {
                // SAFETY: checked to be a string.
                unsafe { String::from_napi_value(v.value().env, v.raw()) }
                    .ok()
                    .filter(|k| !k.is_empty())
            }
            _ => None,
        };
        Ok(JsSecretStore {
            kind: kind.unwrap_or_else(|| "js".to_owned()),
            get: method(object, "get")?,
            set: method(object, "set")?,
            delete: method(object, "delete")?,
            list: method(object, "list")?,
        })
    }

    /// A core error for a failed call: `<kind> secret store: get `key` failed: <why>`.
    fn error(&self, op: &str, key: Option<&str>, err: napi::Error) -> Error {
        let what = match key {
            Some(key) => format!("{op} `{key}`"),
            None => op.to_owned(),
        };
        let why = if err.status == Status::Closing {
            "the JS thread that configured the store has ended".to_owned()
        } else {
            reason(&err)
        };
        Error::new(
            ErrorKind::Secret,
            format!("{} secret store: {what} failed: {why}", self.kind),
        )
    }
}

/// The message of a JS error as napi reports it (`Error: msg` -> `msg`).
fn reason(err: &napi::Error) -> String {
    let text = err.reason.trim();
    let text = text.strip_prefix("Error: ").unwrap_or(text);
    if text.is_empty() {
        "it failed without a message".to_owned()
    } else {
        text.to_owned()
    }
}

impl SecretStore for JsSecretStore {
    fn kind(&self) -> &str {
        &self.kind
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, toolhive_core::Result<Option<Secret>>> {
        Box::pin(async move {
            let reply = self.get.call_async_catch(key.to_owned()).await;
            match async { reply?.value().await }.await {
                Ok(MaybeString(value)) => Ok(value.map(Secret::new)),
                Err(e) => Err(self.error("get", Some(key), e)),
            }
        })
    }

    fn set<'a>(&'a self, key: &'a str, value: Secret) -> BoxFuture<'a, toolhive_core::Result<()>> {
        Box::pin(async move {
            let args = FnArgs::from((key.to_owned(), value.expose().to_owned()));
            drop(value);
            let reply = self.set.call_async_catch(args).await;
            match async { reply?.value().await }.await {
                Ok(Ignored) => Ok(()),
                Err(e) => Err(self.error("set", Some(key), e)),
            }
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, toolhive_core::Result<()>> {
        Box::pin(async move {
            let reply = self.delete.call_async_catch(key.to_owned()).await;
            match async { reply?.value().await }.await {
                Ok(Ignored) => Ok(()),
                Err(e) => Err(self.error("delete", Some(key), e)),
            }
        })
    }

    fn list(&self) -> BoxFuture<'_, toolhive_core::Result<Vec<String>>> {
        Box::pin(async move {
            let reply = self.list.call_async_catch(()).await;
            match async { reply?.value().await }.await {
                Ok(Keys(keys)) => Ok(keys),
                Err(e) => Err(self.error("list", None, e)),
            }
        })
    }
}
