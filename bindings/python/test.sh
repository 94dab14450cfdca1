#!/usr/bin/env bash
# Stage script of the Python binding (bindings/python): builds the extension with maturin through
# pip (the PEP 517 path `pip install ./bindings/python` takes; debug profile and the shared cargo
# target dir here, for speed), installs it into $TOOLHIVE_VENV, smoke-tests the abi3 wheel on the
# oldest CPython available, and runs the pytest suite: the API (sync and asyncio pairs), managing
# proxies (state directory, Python secret stores, restore after a crashed child, browser modes), the
# official `mcp` SDK through proxies to the real server-everything, 50 concurrent proxies,
# interpreter exit, examples/python, stubtest and mypy --strict.
#
# Called by scripts/test from the repo root with CARGO_TARGET_DIR and TOOLHIVE_VENV exported;
# runs on its own too: bash bindings/python/test.sh
# TOOLHIVE_PY_FRESH_INSTALL=1 also checks the README's path on a fresh venv and target dir:
# `pip install ./bindings/python` (build isolation, release build; slow).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD
VENV="${TOOLHIVE_VENV:-$ROOT/.venv}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
PY="$VENV/bin/python"
WORK="$CARGO_TARGET_DIR/toolhive-python"   # wheel, mypy cache, extra venvs: outside the tree
mkdir -p "$WORK"
t0=$SECONDS
step() { echo; echo "--- python ($((SECONDS - t0))s): $*"; }

step "prerequisites"
[ -x "$PY" ] || python3 -m venv "$VENV"
need=()
"$PY" -c 'import maturin' 2>/dev/null || need+=("maturin>=1.9,<2")
"$PY" -c 'import mypy' 2>/dev/null || need+=("mypy==2.4.1")
"$PY" -c 'import mcp, pytest, pytest_timeout, httpx, anyio' 2>/dev/null || need+=(-r tests/e2e/requirements.txt)
if [ ${#need[@]} -gt 0 ]; then "$VENV/bin/pip" install --quiet "${need[@]}"; fi
[ -d tests/e2e/node_modules/@modelcontextprotocol/server-everything ] ||
  (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)

step "build the wheel (pip -> maturin, dev profile) and install it into $VENV"
rm -rf "$WORK/wheels"
PATH="$VENV/bin:$PATH" MATURIN_PEP517_ARGS="--profile dev" \
  "$VENV/bin/pip" wheel --quiet --no-build-isolation --no-deps -w "$WORK/wheels" ./bindings/python
wheel=$(ls "$WORK"/wheels/toolhive_embed-*-cp39-abi3-*.whl)
"$VENV/bin/pip" install --quiet --force-reinstall --no-deps "$wheel"

# The abi3 floor: the same wheel on the oldest CPython this machine has (3.9 if present: on
# PATH or under pyenv), a smoke test only.
oldest=""
for cand in python3.9 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.9*/bin/python3.9 python3.10; do
  if "$cand" -c 'import sys, venv, ensurepip; assert sys.version_info < (3, 11)' 2>/dev/null; then
    oldest=$cand
    break
  fi
done
if [ -n "$oldest" ]; then
  ver=$("$oldest" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  step "abi3 wheel on CPython $ver"
  [ -x "$WORK/venv-$ver/bin/python" ] || "$oldest" -m venv "$WORK/venv-$ver"
  "$WORK/venv-$ver/bin/pip" install --quiet --force-reinstall --no-deps "$wheel"
  "$WORK/venv-$ver/bin/python" bindings/python/tests/smoke.py
else
  step "no CPython older than 3.11 here: abi3 floor not exercised"
fi

if [ "${TOOLHIVE_PY_FRESH_INSTALL:-0}" = 1 ]; then
  step "README path: pip install ./bindings/python in a fresh venv and target dir"
  fresh=$(mktemp -d)
  python3 -m venv "$fresh/venv"
  CARGO_TARGET_DIR="$fresh/target" "$fresh/venv/bin/pip" install --quiet ./bindings/python
  "$fresh/venv/bin/python" bindings/python/tests/smoke.py
  rm -rf "$fresh"
fi

step "pytest bindings/python/tests"
TOOLHIVE_MYPY_CACHE="$WORK/mypy-cache" \
  "$PY" -m pytest -c bindings/python/tests/pytest.ini --rootdir bindings/python/tests bindings/python/tests
step "done"
