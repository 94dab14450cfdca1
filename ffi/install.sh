#!/usr/bin/env bash
# Install the C library: include/toolhive.h, libtoolhive.a, libtoolhive.so and the pkg-config
# files toolhive.pc (shared) and toolhive-static.pc (static) under PREFIX.
#
# Usage: cargo build --release -p toolhive-ffi && bash ffi/install.sh PREFIX [PROFILE]
#        PROFILE is the cargo profile directory to take the libraries from (default: release).
# Then:  cc app.c $(pkg-config --cflags --libs toolhive)          (PKG_CONFIG_PATH=PREFIX/lib/pkgconfig
#        cc app.c $(pkg-config --cflags --libs toolhive-static)    if PREFIX is not a system prefix)
set -euo pipefail
[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: $0 PREFIX [PROFILE]" >&2; exit 2; }
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$1"
PREFIX="$(cd "$1" && pwd)"
PROFILE="${2:-release}"
FROM="${CARGO_TARGET_DIR:-$ROOT/target}/$PROFILE"
for f in libtoolhive.a libtoolhive.so; do
  [ -f "$FROM/$f" ] || { echo "install.sh: $FROM/$f missing; run: cargo build $([ "$PROFILE" = release ] && echo --release) -p toolhive-ffi" >&2; exit 1; }
done
VERSION=$(sed -n 's/^#define TOOLHIVE_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)$/\2/p' "$ROOT/include/toolhive.h" | paste -sd.)
NATIVE=$(bash "$ROOT/ffi/native-static-libs.sh")
install -d "$PREFIX/include" "$PREFIX/lib/pkgconfig"
install -m 0644 "$ROOT/include/toolhive.h" "$PREFIX/include/"
install -m 0644 "$FROM/libtoolhive.a" "$PREFIX/lib/"
install -m 0755 "$FROM/libtoolhive.so" "$PREFIX/lib/"
for pc in toolhive toolhive-static; do
  sed -e "s|@PREFIX@|$PREFIX|" -e "s|@VERSION@|$VERSION|" -e "s|@NATIVE_STATIC_LIBS@|$NATIVE|" \
    "$ROOT/ffi/pkgconfig/$pc.pc.in" >"$PREFIX/lib/pkgconfig/$pc.pc"
done
echo "installed toolhive $VERSION into $PREFIX"
