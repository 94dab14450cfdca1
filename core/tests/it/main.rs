//! Integration tests of toolhive-core against in-test upstreams (one binary, one link).

mod config;
mod credentials;
mod forwarding;
mod legacy_sse;
mod lifecycle;
mod local_routes;
mod oauth;
mod secrets_in_output;
mod sessions;
mod state;
mod support;
mod upstream_failures;
