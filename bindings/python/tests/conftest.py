"""Fixtures for the Python binding's tests: real server-everything processes (helpers reused
from tests/e2e/e2e_support.py) and a clean proxy manager around every test."""

from __future__ import annotations

import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parents[2]
sys.path.insert(0, str(REPO_ROOT / "tests" / "e2e"))

from e2e_support import EverythingServer, free_port, install_signal_cleanup  # noqa: E402

import toolhive  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    install_signal_cleanup()


def pytest_report_header(config: pytest.Config) -> str:
    return f"toolhive {toolhive.__version__} from {Path(toolhive.__file__).parent}"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def server_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server-logs")


@pytest.fixture(scope="session")
def everything_http(server_logs: Path) -> Iterator[EverythingServer]:
    """One streamable-HTTP server-everything for the whole session (each test gets its own proxy)."""
    srv = EverythingServer("streamableHttp", free_port(), server_logs).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def everything_sse(server_logs: Path) -> Iterator[EverythingServer]:
    srv = EverythingServer("sse", free_port(), server_logs).start()
    yield srv
    srv.stop()


@pytest.fixture
def name() -> str:
    """A proxy name no other test uses."""
    return f"t-{uuid.uuid4().hex[:10]}"


@pytest.fixture(autouse=True)
def stop_everything_after() -> Iterator[None]:
    yield
    toolhive.stop_all()
    running = [p for p in toolhive.list() if p.state not in ("stopped", "failed") and p.pid == os.getpid()]
    assert not running, f"proxies still active after stop_all: {running}"
    toolhive.configure()  # back to the defaults: everything in memory


def wait_until(check: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


class Ticker:
    """A thread that counts while it can take the GIL: proves a blocking call released it."""

    def __init__(self) -> None:
        self.ticks = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.ticks += 1
            time.sleep(0.001)

    def __enter__(self) -> "Ticker":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def python() -> str:
    return sys.executable


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT / "tests" / "e2e"), env.get("PYTHONPATH", "")])
    return env
