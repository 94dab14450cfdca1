"""Fixtures for the OAuth end-to-end suite (see README.md here).

Environment:
  TOOLHIVE_BIN     path of the toolhive binary (default <repo>/target/debug/toolhive)
  RIG_VERBOSE=0    quieter rig logs (default: verbose, in <tmp>/logs/rig.stderr)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from oauth_support import Rig, ToolhiveOAuthProxy, install_signal_cleanup, tail, toolhive_bin


def pytest_configure(config):
    install_signal_cleanup()


def pytest_report_header(config):
    return f"toolhive oauth e2e: TOOLHIVE_BIN={toolhive_bin()}"


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    d = tmp_path / "logs"
    d.mkdir()
    return d


@pytest.fixture
def rig_factory(log_dir):
    """rig_factory(access_token_ttl=5, token_format="jwt", ...) -> a started Rig (stopped at teardown)."""
    rigs: list[Rig] = []

    def factory(**kwargs) -> Rig:
        r = Rig(log_dir, **kwargs)
        rigs.append(r)
        try:
            return r.start()
        except RuntimeError as e:
            pytest.fail(str(e), pytrace=False)

    yield factory
    for r in rigs:
        r.stop()


@pytest.fixture
def rig(rig_factory) -> Rig:
    return rig_factory()


@pytest.fixture
def toolhive_oauth(tmp_path, log_dir, request):
    """toolhive_oauth(rig, *args) -> started ToolhiveOAuthProxy with its own state dir and HOME.

    At teardown: SIGTERM, which must end it with 0 within a few seconds, and nothing but the one
    URL line on stdout. The rig's and toolhive's logs are attached to a failure report.
    """
    proxies: list[ToolhiveOAuthProxy] = []

    def factory(rig: Rig, *args: str, name: str = "oauth-rig") -> ToolhiveOAuthProxy:
        p = ToolhiveOAuthProxy(rig.mcp_url, name=name, state_dir=tmp_path / "state", home=tmp_path / "home",
                               log_dir=log_dir, args=list(args))
        proxies.append(p)
        try:
            return p.start()
        except RuntimeError as e:
            p.kill()
            p.proc = None
            pytest.fail(str(e), pytrace=False)

    yield factory
    problems = []
    for p in proxies:
        if p.proc is None:
            continue
        if p.proc.poll() is not None:
            problems.append(f"toolhive exited by itself with {p.proc.returncode}\n{tail(p.stderr_path)}")
            p.stop()
            continue
        rc = p.stop()
        if rc != 0:
            problems.append(f"toolhive: exit code {rc} after SIGTERM\n{tail(p.stderr_path)}")
        if p.extra_stdout.strip():
            problems.append(f"toolhive printed more than one line on stdout: {p.extra_stdout[:500]!r}")
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call" and rep.failed:
        logs = item.funcargs.get("log_dir")
        if isinstance(logs, Path) and logs.is_dir():
            for f in sorted(logs.glob("*.stderr")):
                rep.sections.append((f"log {f.name} (tail)", tail(f, 6000)))
