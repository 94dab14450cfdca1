#!/usr/bin/env bash
# Prints the system libraries a program linking libtoolhive.a needs after it, as rustc reports
# them (`--print native-static-libs`), e.g. "-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc".
#
# Asking rustc rebuilds the ffi crate with other flags, so the answer is cached in the cargo
# target dir, keyed by everything it depends on (rustc, Cargo.lock, ffi/Cargo.toml).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
key=$( { rustc -vV; cat Cargo.lock ffi/Cargo.toml; } | sha256sum | cut -c1-16)
cache="$TARGET/toolhive-ffi/native-static-libs-$key"
if [ ! -s "$cache" ]; then
  mkdir -p "$(dirname "$cache")"
  out=$(cargo rustc --locked -q -p toolhive-ffi --lib --crate-type staticlib -- --print native-static-libs 2>&1) || {
    echo "$out" >&2
    exit 1
  }
  libs=$(printf '%s\n' "$out" | sed -n 's/^note: native-static-libs: //p' | tail -1)
  [ -n "$libs" ] || { echo "native-static-libs.sh: rustc printed no native-static-libs line" >&2; exit 1; }
  printf '%s\n' "$libs" >"$cache"
fi
cat "$cache"
