#!/usr/bin/env bash
# The OS keyring store against a real freedesktop Secret Service: a private D-Bus session bus
# (dbus-run-session) with a fresh gnome-keyring whose login keyring is created and unlocked
# without a prompt, in a throwaway HOME. Runs the core keyring tests, which must reach the
# keyring (TOOLHIVE_KEYRING_REQUIRED=1: an unreachable keyring fails, never skips), then the CLI
# with --secret-store keyring: secret set/get/list/delete; a detached proxy whose bearer token is
# saved to the keyring, then stopped, restarted in a new process and removed; the same with the
# file store; a locked keyring; auto falling back to the file store without a usable keyring.
#
# Usage: tests/keyring/run.sh     (installs gnome-keyring and dbus with apt-get when missing)
# Env:   TOOLHIVE_BIN   the toolhive binary (default: built here)
set -euo pipefail

if [ "${1:-}" = --in-session ]; then
  in_session=1
else
  in_session=0
fi

step() { echo "keyring: $*"; }
fail() { echo "keyring: FAILED: $*" >&2; exit 1; }

if [ "$in_session" = 0 ]; then
  cd "$(dirname "${BASH_SOURCE[0]}")/../.."
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

  need=()
  command -v gnome-keyring-daemon >/dev/null || need+=(gnome-keyring)
  command -v dbus-run-session >/dev/null && command -v dbus-send >/dev/null || need+=(dbus)
  if [ ${#need[@]} -gt 0 ]; then
    step "apt-get install ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 || {
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    }
  fi

  # Build outside the session (same features as scripts/test's `cargo test`, so nothing is
  # compiled twice there): the keyring test binary and the CLI.
  step "build"
  cargo test --locked --features toolhive-core/log-bridge --test keyring --no-run -q 2>&1 |
    grep -v '^ *Executable' || true
  cargo build --locked -q --features toolhive-core/log-bridge --bin toolhive
  export TOOLHIVE_BIN="${TOOLHIVE_BIN:-$CARGO_TARGET_DIR/debug/toolhive}"

  tmp=$(mktemp -d "${TMPDIR:-/tmp}/toolhive-keyring.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  export KEYRING_TMP="$tmp"

  # No session bus at all: the keyring store fails at once and says why; auto uses the file.
  step "no session bus: --secret-store keyring fails fast, auto falls back to the file store"
  nobus=(env DBUS_SESSION_BUS_ADDRESS="unix:path=$tmp/no-bus" TOOLHIVE_STATE_DIR="$tmp/nobus-state")
  start=$(date +%s%N)
  if out=$("${nobus[@]}" "$TOOLHIVE_BIN" --secret-store keyring secret list 2>&1); then
    fail "keyring store without a session bus succeeded: $out"
  fi
  elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
  grep -q "cannot reach a Secret Service on the D-Bus session bus" <<<"$out" || fail "$out"
  grep -q -- "--secret-store file" <<<"$out" || fail "no hint: $out"
  [ "$elapsed_ms" -lt 3000 ] || fail "took ${elapsed_ms} ms to fail"
  printf 'nobus-value' | "${nobus[@]}" "$TOOLHIVE_BIN" secret set nobus/key 2>"$tmp/err"
  grep -q "in the file store" "$tmp/err" || fail "auto did not use the file store: $(cat "$tmp/err")"
  if out=$("$TOOLHIVE_BIN" --secret-store nowhere secret list 2>&1); then
    fail "an unknown store was accepted"
  fi
  grep -q "possible values: auto, keyring, file" <<<"$out" || fail "$out"

  # The session: its dbus-daemon (and any service it activates) sees the throwaway HOME too.
  # cargo and rustup keep the real HOME's toolchain and caches.
  export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
  mkdir -p "$tmp/home" "$tmp/run" && chmod 700 "$tmp/run"
  HOME="$tmp/home" XDG_DATA_HOME="$tmp/home/.local/share" XDG_CONFIG_HOME="$tmp/home/.config" \
    XDG_CACHE_HOME="$tmp/home/.cache" XDG_RUNTIME_DIR="$tmp/run" \
    dbus-run-session -- bash "${BASH_SOURCE[0]}" --in-session
  echo "keyring: all checks passed"
  exit 0
fi

# ---- inside the private session bus ----
tmp="$KEYRING_TMP"
th() { "$TOOLHIVE_BIN" --secret-store keyring "$@"; }
export TOOLHIVE_STATE_DIR="$tmp/state"
unset TOOLHIVE_SECRET_STORE

step "unlock a fresh login keyring (gnome-keyring-daemon --unlock)"
# Reads the password on stdin, creates the login keyring with it, unlocks it and claims
# org.freedesktop.secrets on this bus.
printf '%s' "keyring-test-password" |
  gnome-keyring-daemon --unlock --components=secrets >/dev/null
owned=0
for _ in $(seq 100); do
  if dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null |
    grep -q 'boolean true'; then
    owned=1
    break
  fi
  sleep 0.1
done
[ "$owned" = 1 ] || fail "no Secret Service on the session bus"
[ -f "$HOME/.local/share/keyrings/login.keyring" ] || fail "no login keyring was created"

step "core tests (cargo test --test keyring, keyring required)"
keyring_tests() {
  TOOLHIVE_KEYRING_REQUIRED=1 cargo test --locked --features toolhive-core/log-bridge \
    --test keyring -q "$@" 2>&1 | tee "$tmp/cargo.out"
  grep -q '^test result: ok. [1-9][0-9]* passed' "$tmp/cargo.out"
}
keyring_tests -- --skip restarted || fail "cargo test --test keyring"
step "core test: the store reconnects after the keyring daemon is replaced"
# The new daemon unlocks the same login keyring (same password) and takes over the bus name.
export TOOLHIVE_KEYRING_RESTART='printf %s keyring-test-password |
  gnome-keyring-daemon --replace --unlock --components=secrets >/dev/null 2>&1
for _ in $(seq 100); do
  dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null |
    grep -q "boolean true" && exit 0
  sleep 0.1
done
exit 1'
keyring_tests restarted || fail "cargo test --test keyring restarted"
unset TOOLHIVE_KEYRING_RESTART

step "CLI: secret set/get/overwrite/list/delete with --secret-store keyring"
printf 'cli-SECRET-one' | th secret set check/token 2>"$tmp/err"
grep -q "in the keyring store" "$tmp/err" || fail "$(cat "$tmp/err")"
[ "$(th secret get check/token)" = cli-SECRET-one ] || fail "get after set"
printf 'cli-SECRET-two' | th secret set check/token 2>/dev/null
[ "$(th secret get check/token)" = cli-SECRET-two ] || fail "get after overwrite"
[ "$(th secret list)" = check/token ] || fail "list: $(th secret list)"
# auto (here through the environment variable) picks the reachable, unlocked keyring.
[ "$(TOOLHIVE_SECRET_STORE=auto "$TOOLHIVE_BIN" secret get check/token)" = cli-SECRET-two ] ||
  fail "auto did not read the keyring"
th secret delete check/token 2>/dev/null
th secret delete check/token 2>/dev/null || fail "deleting a missing secret failed"
[ -z "$(th secret list)" ] || fail "list after delete: $(th secret list)"
if th secret get check/token >/dev/null 2>&1; then fail "get after delete succeeded"; fi

# A detached proxy, stopped and restarted by another `toolhive`, then removed. `restart` of a
# stopped proxy starts a new background process: it must use the same store as the command
# that started it (with --secret-store file here and a usable keyring, a child falling back to
# auto would look in the keyring, miss the token and fail).
# Nothing listens on port 1: the start-up probe only warns, the proxy still starts. The token
# comes from the environment (a file would stay a file reference) so it is saved to the store.
served_by=()
end_servers() {
  # `rm` stops the proxy but, as of this writing, not the background process that served it.
  for pid in "${served_by[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap end_servers EXIT
pid_of() { sed -n 's/.*"pid": *\([0-9][0-9]*\).*/\1/p' "$TOOLHIVE_STATE_DIR/proxies/$1.json"; }
detached_roundtrip() {
  local store=$1 name=$2 url
  local run=("$TOOLHIVE_BIN" --secret-store "$store")
  url=$(TOOLHIVE_REMOTE_AUTH_BEARER_TOKEN="run-SECRET-$name" \
    "${run[@]}" run http://127.0.0.1:1/mcp --name "$name" --detach 2>"$tmp/err") ||
    fail "run --detach: $(cat "$tmp/err")"
  served_by+=("$(pid_of "$name")")
  [[ "$url" == http://127.0.0.1:*/mcp ]] || fail "run --detach printed: $url"
  [ "$("${run[@]}" secret get "proxy/$name/bearer_token")" = "run-SECRET-$name" ] ||
    fail "the token is not in the $store store"
  ! grep -rq "run-SECRET" "$TOOLHIVE_STATE_DIR/proxies" || fail "a token is in a saved config"
  "${run[@]}" stop "$name" 2>/dev/null
  "${run[@]}" restart "$name" >/dev/null 2>"$tmp/err" || fail "restart: $(cat "$tmp/err")"
  served_by+=("$(pid_of "$name")")
  "${run[@]}" list | grep -qw "$name.*running" || fail "not running: $("${run[@]}" list)"
  "${run[@]}" rm "$name" 2>/dev/null
  if "${run[@]}" secret get "proxy/$name/bearer_token" >/dev/null 2>&1; then
    fail "rm left the token in the $store store"
  fi
}
step "CLI: a detached proxy's token saved in the keyring; stop, restart (new process), rm"
detached_roundtrip keyring kr
[ -z "$(th secret list)" ] || fail "keyring not empty after rm: $(th secret list)"
[ ! -e "$TOOLHIVE_STATE_DIR/secrets.json" ] || fail "the file store was written"
step "CLI: the same with --secret-store file while the keyring is usable"
detached_roundtrip file kf
[ -z "$(th secret list)" ] || fail "the keyring was written: $(th secret list)"
end_servers

step "locked keyring: a clear error for --secret-store keyring, auto falls back to the file"
dbus-send --session --print-reply --dest=org.freedesktop.secrets /org/freedesktop/secrets \
  org.freedesktop.Secret.Service.Lock \
  array:objpath:/org/freedesktop/secrets/collection/login >/dev/null
if out=$(th secret list 2>&1); then fail "a locked keyring was listed: $out"; fi
grep -q "the keyring is locked" <<<"$out" || fail "$out"
printf 'file-value' | "$TOOLHIVE_BIN" secret set after/lock 2>"$tmp/err"
grep -q "in the file store" "$tmp/err" || fail "auto with a locked keyring: $(cat "$tmp/err")"
[ "$("$TOOLHIVE_BIN" secret get after/lock)" = file-value ] || fail "file store read back"
