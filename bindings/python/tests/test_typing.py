"""The stubs match the module: mypy.stubtest, __all__ against what the package defines, and
mypy --strict on the examples and on typing_usage.py (the API as users write it)."""

from __future__ import annotations

import ast
import inspect
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import toolhive
import toolhive._native
from conftest import REPO_ROOT, TESTS_DIR

PACKAGE_DIR = Path(toolhive.__file__).parent
CACHE_DIR = os.environ.get("TOOLHIVE_MYPY_CACHE") or str(Path(tempfile.gettempdir()) / "toolhive-python-mypy-cache")


def mypy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(TESTS_DIR),
    )


def test_shipped_files() -> None:
    for name in ("__init__.py", "_errors.py", "_native.pyi", "py.typed"):
        assert (PACKAGE_DIR / name).is_file(), name
    assert list(PACKAGE_DIR.glob("_native*.abi3.so")), "the abi3 extension module is installed"
    from importlib.metadata import version

    assert version("toolhive-embed") == toolhive.__version__


def test_stubtest() -> None:
    proc = mypy("mypy.stubtest", "toolhive", "--mypy-config-file", os.devnull)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_stub_names_match_the_native_module() -> None:
    tree = ast.parse((PACKAGE_DIR / "_native.pyi").read_text())
    stub_names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            stub_names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            stub_names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            stub_names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    runtime_names = {n for n in dir(toolhive._native) if not (n.startswith("__") and n not in ("__version__", "__all__"))}
    assert stub_names == runtime_names
    assert set(toolhive._native.__all__) | {"__all__"} == runtime_names


def test_all_lists_every_public_name() -> None:
    public = {
        n
        for n, v in vars(toolhive).items()
        if not n.startswith("_") and not inspect.ismodule(v)
    } | {"__version__"}
    assert set(toolhive.__all__) == public


def test_mypy_strict_on_examples_and_usage() -> None:
    proc = mypy(
        "mypy",
        "--strict",
        "--cache-dir",
        CACHE_DIR,
        str(REPO_ROOT / "examples" / "python"),
        str(TESTS_DIR / "typing_usage.py"),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
