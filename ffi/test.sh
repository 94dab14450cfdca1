#!/usr/bin/env bash
# The C ABI's stage of scripts/test: header freshness (pinned cbindgen), versions, the README's
# compile and link lines, pkg-config, the C example, the C/C++ tests under AddressSanitizer +
# UBSan (static and shared library) and valgrind, and the end-to-end test (Python SDK ->
# proxy started from C -> server-everything).
#
# Usage (from anywhere): bash ffi/test.sh
# Env:   CARGO_TARGET_DIR (default <repo>/target), TOOLHIVE_VENV (default <repo>/.venv)
#        FFI_SKIP_E2E=1   skip the end-to-end test (no Node/Python needed)
# Installs what is missing (as root): gcc, g++, make, valgrind, pkg-config (apt); cbindgen
# 0.29.4 (cargo install, into ${CARGO_HOME:-~/.cargo}/bin); the e2e npm/pip dependencies.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
export CARGO_TERM_COLOR=never
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
VENV="${TOOLHIVE_VENV:-$ROOT/.venv}"
LIB="$CARGO_TARGET_DIR/debug"
BUILD="$CARGO_TARGET_DIR/c-tests"
CBINDGEN_VERSION=0.29.4
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
START=$SECONDS

passed=0
failed=0
stage() { echo; echo "==> ffi: $* ($((SECONDS - START))s)"; }
ok() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAILED: $*" >&2; }
trap 'echo; echo "ffi: ${passed} passed, $((failed + 1)) failed (aborted at line $LINENO)"' ERR

# ------------------------------------------------------------------------------------------
stage "tools"
need_apt=()
command -v cc >/dev/null || need_apt+=(gcc)
command -v c++ >/dev/null || need_apt+=(g++)
command -v make >/dev/null || need_apt+=(make)
command -v valgrind >/dev/null || need_apt+=(valgrind)
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
# gcc's AddressSanitizer/UBSan runtimes (libasan, libubsan) come with Debian's gcc; check.
probe=$(mktemp -d)
echo 'int main(void){return 0;}' >"$probe/probe.c"
if command -v cc >/dev/null && ! cc -fsanitize=address,undefined "$probe/probe.c" -o "$probe/probe" 2>/dev/null; then
  need_apt+=(gcc)
fi
rm -rf "$probe"
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "apt-get install ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi
if [ "$("$CARGO_BIN/cbindgen" --version 2>/dev/null)" != "cbindgen $CBINDGEN_VERSION" ]; then
  echo "cargo install cbindgen $CBINDGEN_VERSION"
  build_dir=$(mktemp -d)
  cargo install --quiet --locked cbindgen --version "$CBINDGEN_VERSION" --root "${CARGO_HOME:-$HOME/.cargo}" \
    --target-dir "$build_dir" --force
  rm -rf "$build_dir"
fi
CBINDGEN="$CARGO_BIN/cbindgen"
"$CBINDGEN" --version
ok

# ------------------------------------------------------------------------------------------
stage "include/toolhive.h is what cbindgen $CBINDGEN_VERSION generates from ffi/src"
fresh=$(mktemp)
"$CBINDGEN" --quiet --config ffi/cbindgen.toml --output "$fresh" ffi
if diff -u include/toolhive.h "$fresh"; then
  # --verify is the tool's own check of the same thing (run only on a fresh header: on a stale
  # one cbindgen 0.29 rewrites the file before failing).
  "$CBINDGEN" --quiet --verify --config ffi/cbindgen.toml --output include/toolhive.h ffi
  ok
else
  fail "include/toolhive.h is stale; regenerate: $CBINDGEN --config ffi/cbindgen.toml --output include/toolhive.h ffi"
fi
rm -f "$fresh"

# ------------------------------------------------------------------------------------------
stage "cargo build + unit tests (toolhive-ffi)"
cargo build --locked -p toolhive-ffi
cargo test --locked -q -p toolhive-ffi --lib 2>&1 | tail -3
ok

# ------------------------------------------------------------------------------------------
stage "version macros match Cargo's version"
cargo_version=$(cargo metadata --locked --no-deps --format-version 1 |
  python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "toolhive-ffi"))')
header_version=$(sed -n 's/^#define TOOLHIVE_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)$/\2/p' include/toolhive.h | paste -sd.)
echo "Cargo: $cargo_version, header: $header_version"
# (Pre-release/build suffixes are not in the macros.)
if [ "${cargo_version%%[-+]*}" = "$header_version" ]; then ok; else fail "header version $header_version != Cargo $cargo_version"; fi

# ------------------------------------------------------------------------------------------
stage "the README's compile and link lines (examples/c/README.md), static and shared"
NATIVE=$(bash ffi/native-static-libs.sh)
echo "native-static-libs: $NATIVE"
readme_block() { # the shell block between the c-build markers of $1
  sed -n '/<!-- c-build:begin -->/,/<!-- c-build:end -->/p' "$1" | sed -e '/^<!--/d' -e '/^```/d'
}
block=$(readme_block examples/c/README.md)
cc_lines=$(printf '%s\n' "$block" | grep '^cc ')
[ "$(printf '%s\n' "$cc_lines" | wc -l)" = 2 ] || { fail "examples/c/README.md: expected two cc lines"; cc_lines=""; }
if printf '%s\n' "$cc_lines" | grep -qF -- "libtoolhive.a $NATIVE -o"; then ok; else
  fail "the static link line does not list rustc's native-static-libs ($NATIVE)"
fi
# The top-level README, once it carries the C section, must show the very same block.
if grep -q '<!-- c-build:begin -->' README.md; then
  if [ "$(readme_block README.md)" = "$block" ]; then ok; else fail "README.md's C build block differs from examples/c/README.md"; fi
fi
mkdir -p "$BUILD"
while IFS= read -r line; do
  [ -n "$line" ] || continue
  cmd=${line//-o proxy-/-o $BUILD/readme-proxy-}
  echo "+ LIB=$LIB; $cmd"
  (LIB="$LIB"; eval "$cmd -Wall -Wextra -Werror -pedantic") && ok || fail "$line"
done <<<"$cc_lines"

run_example() { # binary, remote url, name: runs it, reads the URL line, Ctrl-C, checks the exit
  local bin=$1 remote=$2 name=$3 out err pid url
  out=$(mktemp) err=$(mktemp)
  "$bin" "$remote" "$name" >"$out" 2>"$err" &
  pid=$!
  for _ in $(seq 100); do [ -s "$out" ] && break; sleep 0.1; done
  url=$(head -1 "$out")
  kill -INT "$pid"
  if wait "$pid" && [[ "$url" =~ ^http://127\.0\.0\.1:[0-9]+/mcp$ ]] && grep -q "^stopped $name (stopped)$" "$out" &&
    grep -q "^$name	running	streamable-http	$url -> $remote$" "$err"; then
    echo "$bin: $url, listed, stopped on Ctrl-C"
    rm -f "$out" "$err"
    return 0
  fi
  echo "--- stdout"; cat "$out"; echo "--- stderr"; cat "$err"
  rm -f "$out" "$err"
  return 1
}
for kind in static shared; do
  run_example "$BUILD/readme-proxy-$kind" http://127.0.0.1:9/mcp "readme-$kind" && ok || fail "example ($kind)"
done

# ------------------------------------------------------------------------------------------
stage "pkg-config: ffi/install.sh into a scratch prefix, build the example with toolhive.pc / toolhive-static.pc"
prefix=$(mktemp -d)
bash ffi/install.sh "$prefix" debug
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
[ "$(pkg-config --modversion toolhive)" = "$header_version" ] && ok || fail "pkg-config --modversion toolhive"
for pc in toolhive toolhive-static; do
  # shellcheck disable=SC2046
  cc -std=c11 -Wall -Wextra -Werror -pedantic examples/c/proxy.c $(pkg-config --cflags --libs "$pc") -o "$BUILD/pc-$pc" &&
    LD_LIBRARY_PATH="$prefix/lib" run_example "$BUILD/pc-$pc" http://127.0.0.1:9/mcp "pc-$pc" && ok || fail "pkg-config $pc"
done
unset PKG_CONFIG_PATH
rm -rf "$prefix"

# ------------------------------------------------------------------------------------------
stage "build tests/c (C11 and C++17, -Wall -Wextra -Werror -pedantic; ASan+UBSan static/shared; plain shared)"
make -s -C tests/c -j2 LIBDIR="$LIB" BUILD="$BUILD" NATIVE_LIBS="$NATIVE"
ok

run_test() { # label, command...: runs it, shows the output, counts the result
  local label=$1 log
  shift
  log=$(mktemp)
  if timeout 300 "$@" >"$log" 2>&1; then
    grep -E '[0-9]+ passed' "$log" | tail -1 || tail -1 "$log"
    ok
  else
    cat "$log"
    fail "$label"
  fi
  rm -f "$log"
}

stage "tests under AddressSanitizer + UBSan (libtoolhive.a and libtoolhive.so)"
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0:detect_stack_use_after_return=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for t in test_api test_callbacks test_threads test_manage test_secrets test_cxx; do
  for kind in asan-static asan-shared; do
    run_test "$t ($kind)" "$BUILD/$t-$kind"
  done
done

stage "tests under valgrind memcheck (libtoolhive.so; zero errors, zero definite/indirect leaks)"
# No suppressions: "possibly lost" blocks (the tracing subscriber's slab, installed once per
# process) are not counted; definite and indirect leaks and every memory error are.
for t in test_api test_callbacks test_threads test_manage test_secrets test_cxx; do
  run_test "$t (valgrind)" valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect \
    --fair-sched=yes "$BUILD/$t-shared"
done

# ------------------------------------------------------------------------------------------
if [ "${FFI_SKIP_E2E:-0}" = 1 ]; then
  stage "end-to-end skipped (FFI_SKIP_E2E=1)"
else
  stage "end-to-end: Python SDK -> proxy started from C (ASan build) -> server-everything"
  [ -d tests/e2e/node_modules/@modelcontextprotocol/server-everything ] ||
    (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/python" -c 'import mcp, pytest, pytest_timeout, anyio' 2>/dev/null ||
    "$VENV/bin/pip" install --quiet -r tests/e2e/requirements.txt
  TOOLHIVE_C_EXAMPLE="$BUILD/proxy-asan-shared" run_test "e2e" \
    "$VENV/bin/python" -m pytest -p no:cacheprovider --rootdir tests/c -q --timeout 120 tests/c/test_e2e.py
fi

trap - ERR
echo
echo "ffi: ${passed} passed, ${failed} failed ($((SECONDS - START))s)"
[ "$failed" = 0 ]
