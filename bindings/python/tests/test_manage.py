"""Managing proxies from Python (issue 6) and who shows the login URL (issue 7):
`toolhive.configure()` with a state directory, a secret store written in Python (sync and async)
and the built-in ones; restart, remove, restore, state_errors, info, logs and follow_logs, also
across processes sharing a state directory; the browser modes and authorization handlers."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlsplit

import httpx
import pytest

import toolhive
from conftest import child_env, python, wait_until
from rigs import HEADERS, PING, TOKEN, BearerServer, FakeProtectedServer, callback_url

class DictStore:
    """A secret store over a dict, as a host writes one over its own secret storage."""

    def __init__(self, data: Optional[dict[str, str]] = None) -> None:
        self.data: dict[str, str] = dict(data or {})
        self.threads: set[int] = set()

    def _called(self) -> None:
        self.threads.add(threading.get_ident())

    def get(self, key: str) -> Optional[str]:
        self._called()
        return self.data.get(key)

    def set(self, key: str, value: str) -> None:
        self._called()
        self.data[key] = value

    def delete(self, key: str) -> None:
        self._called()
        self.data.pop(key, None)

    def list(self) -> list[str]:
        self._called()
        return list(self.data)


class AsyncDictStore:
    """The same with async methods: they run on the event loop configure() was called from."""

    def __init__(self, data: Optional[dict[str, str]] = None) -> None:
        self.data: dict[str, str] = dict(data or {})
        self.loops: set[int] = set()

    async def _called(self) -> None:
        self.loops.add(id(asyncio.get_running_loop()))
        await asyncio.sleep(0.001)

    async def get(self, key: str) -> Optional[str]:
        await self._called()
        return self.data.get(key)

    async def set(self, key: str, value: str) -> None:
        await self._called()
        self.data[key] = value

    async def delete(self, key: str) -> None:
        await self._called()
        self.data.pop(key, None)

    async def list(self) -> list[str]:
        await self._called()
        return list(self.data)


@pytest.fixture
def bearer() -> Iterator[BearerServer]:
    srv = BearerServer(TOKEN)
    yield srv
    srv.close()


@pytest.fixture
def protected() -> Iterator[FakeProtectedServer]:
    srv = FakeProtectedServer()
    yield srv
    srv.close()


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


def port_of(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


def ping(url: str) -> httpx.Response:
    return httpx.post(url, json=PING, headers=HEADERS, timeout=10)


def proxy_keys(store: Any, name: str) -> list[str]:
    return [k for k in store.data if k.startswith(f"proxy/{name}/")]


# ---------------------------------------------------------------------------------------------
# configure() and the secret stores
# ---------------------------------------------------------------------------------------------


def test_configure_checks_its_options() -> None:
    bad: list[tuple[dict[str, Any], str, str]] = [
        ({"state_dir": 42}, "state_dir", "directory path"),
        ({"state_dir": ""}, "state_dir", "empty"),
        ({"open_browser": "yes"}, "open_browser", "True, False or None"),
        ({"secret_store": "file"}, "secret_store", "secret store object"),
        ({"secret_store": object()}, "secret_store.get", "has no `get` method"),
        ({"secret_store": AsyncDictStore()}, "secret_store.get", "is async"),  # no running loop here
    ]
    for kwargs, field, text in bad:
        with pytest.raises(toolhive.InvalidConfigError) as info:
            toolhive.configure(**kwargs)
        assert info.value.field == field and text in info.value.message, (kwargs, str(info.value))
    with pytest.raises(TypeError):
        toolhive.configure("/tmp/x")  # type: ignore[misc]  # keyword-only
    default = toolhive.default_state_dir()
    assert default is not None and default.name == "toolhive-embed"


def test_configure_refuses_while_proxies_are_active(everything_http: Any, name: str, state_dir: Path) -> None:
    toolhive.configure(state_dir=state_dir)
    proxy = toolhive.start(everything_http.url, name=name)
    with pytest.raises(toolhive.StateError, match=f"`{name}`") as info:
        toolhive.configure()
    assert "stop them first" in str(info.value)
    assert toolhive.get(name) is not None, "the refused configure changed nothing"
    proxy.stop()
    toolhive.configure()  # nothing active: fine, and the stopped proxy is forgotten here
    assert toolhive.get(name) is None and toolhive.list() == []
    toolhive.configure(state_dir=state_dir)  # ...but still saved in its state directory
    assert toolhive.info(name).state == "stopped"


def test_secret_store_reports_the_configured_store(tmp_path: Path) -> None:
    assert isinstance(toolhive.secret_store(), toolhive.MemorySecretStore)
    toolhive.configure(state_dir=tmp_path)
    default = toolhive.secret_store()
    assert isinstance(default, toolhive.FileSecretStore) and default.path == tmp_path / "secrets.json"
    mine = DictStore()
    toolhive.configure(secret_store=mine)
    assert toolhive.secret_store() is mine
    builtin = toolhive.MemorySecretStore()
    toolhive.configure(secret_store=builtin)
    assert toolhive.secret_store() is builtin
    assert isinstance(mine, toolhive.SecretStore) and isinstance(builtin, toolhive.SecretStore)


def test_builtin_stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    memory = toolhive.MemorySecretStore()
    memory.set("a", "1")
    memory.set("a", "2")  # overwrites
    assert (memory.get("a"), memory.get("b"), memory.list(), memory.kind) == ("2", None, ["a"], "memory")
    memory.delete("a")
    memory.delete("a")  # deleting a missing key is fine
    assert memory.list() == []

    path = tmp_path / "dir" / "secrets.json"
    one, two = toolhive.FileSecretStore(path), toolhive.FileSecretStore(str(path))
    one.set("github", "ghp-1")
    two.set("slack", "xoxb-2")
    assert sorted(one.list()) == ["github", "slack"] and two.get("github") == "ghp-1"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "ghp-1" not in repr(one) and one.kind == "file"

    env = toolhive.EnvSecretStore()
    var = toolhive.EnvSecretStore.variable("proxy/x/bearer_token")
    assert var == "TOOLHIVE_SECRET_PROXY_X_BEARER_TOKEN"
    monkeypatch.setenv(var, "from-env")
    assert env.get("proxy/x/bearer_token") == "from-env"
    with pytest.raises(toolhive.SecretError, match="read-only"):
        env.set("k", "v")


# ---------------------------------------------------------------------------------------------
# a secret store written in Python
# ---------------------------------------------------------------------------------------------


def test_python_store_serves_a_bearer_token_secret_sync(bearer: BearerServer, name: str) -> None:
    store = DictStore({"github": TOKEN})
    toolhive.configure(secret_store=store)
    with toolhive.start(bearer.url, name=name, bearer_token={"secret": "github"}) as proxy:
        r = ping(proxy.url)
        assert r.status_code == 200 and r.json()["result"] == {"ok": True}, r.text
    assert bearer.authorized_requests >= 1
    # One thread of toolhive's (never the caller's, never a runtime worker) calls the store.
    assert len(store.threads) == 1 and threading.get_ident() not in store.threads
    with pytest.raises(toolhive.SecretError) as info:
        toolhive.start(bearer.url, name=name, bearer_token={"secret": "missing"})
    assert info.value.field == "bearer_token" and "missing" in str(info.value)


@pytest.mark.anyio
async def test_python_store_serves_a_bearer_token_secret_async(bearer: BearerServer, name: str) -> None:
    store = AsyncDictStore({"github": TOKEN})
    toolhive.configure(secret_store=store)  # from the loop: the async methods run on it
    async with await toolhive.start_async(bearer.url, name=name, bearer_token={"secret": "github"}) as proxy:
        async with httpx.AsyncClient(timeout=10) as http:
            r = await http.post(proxy.url, json=PING, headers=HEADERS)
            assert r.status_code == 200, r.text
    assert store.loops == {id(asyncio.get_running_loop())}
    # A blocking call from the store's own loop would wait for the loop forever: refused.
    with pytest.raises(toolhive.SecretError, match="blocked in a synchronous toolhive call"):
        toolhive.start(bearer.url, name=name, bearer_token={"secret": "github"})


class FailingStore(DictStore):
    def get(self, key: str) -> Optional[str]:
        if key == "broken":
            raise KeyError("the vault is sealed")
        if key == "wrong-type":
            return 42  # type: ignore[return-value]
        return super().get(key)

    def set(self, key: str, value: str) -> None:
        raise ValueError(f"cannot keep {value!r}")


def test_python_store_errors_become_secret_errors(bearer: BearerServer, name: str, state_dir: Path) -> None:
    toolhive.configure(state_dir=state_dir, secret_store=FailingStore())
    with pytest.raises(toolhive.SecretError) as info:
        toolhive.start(bearer.url, name=name, bearer_token={"secret": "broken"})
    assert "FailingStore.get(`broken`) raised KeyError" in str(info.value) and "sealed" in str(info.value)
    with pytest.raises(toolhive.SecretError, match="returned int"):
        toolhive.start(bearer.url, name=name, bearer_token={"secret": "wrong-type"})
    # With a state directory a token given as a value is moved into the store: `set` fails, and
    # its message (which contains the value) is withheld.
    with pytest.raises(toolhive.SecretError) as info:
        toolhive.start(bearer.url, name=name, bearer_token={"value": TOKEN})
    assert f"FailingStore.set(`proxy/{name}/bearer_token`) raised ValueError" in str(info.value)
    assert TOKEN not in str(info.value) and TOKEN not in repr(info.value)


def test_blocking_call_from_a_callback_with_a_python_store(bearer: BearerServer, name: str, state_dir: Path) -> None:
    store = DictStore()
    toolhive.configure(state_dir=state_dir, secret_store=store)
    seen: list[Optional[str]] = []
    removed = threading.Event()

    def on_event(event: toolhive.Event) -> None:
        seen.append(event.to_state)
        if event.to_state == "running":
            # On toolhive's thread, which also runs the store: the call serves the store meanwhile.
            toolhive.remove(name)
            removed.set()

    with toolhive.subscribe(on_event, proxy=name):
        toolhive.start(bearer.url, name=name, bearer_token={"value": TOKEN})
        assert removed.wait(10), "remove() from the callback did not finish"
        wait_until(lambda: seen[-1:] == ["stopped"], what="the stop events, after the callback")
    assert seen == ["starting", "running", "stopping", "stopped"]
    assert proxy_keys(store, name) == [] and toolhive.list() == []


# ---------------------------------------------------------------------------------------------
# restart, remove
# ---------------------------------------------------------------------------------------------


def test_restart_keeps_the_port_sync(everything_http: Any, name: str) -> None:
    proxy = toolhive.start(everything_http.url, name=name)
    info = toolhive.restart(name)
    assert (info.name, info.local_url, info.state, info.pid) == (name, proxy.url, "running", os.getpid())
    assert proxy.state == "stopped", "the old handle is the stopped proxy"
    again = toolhive.get(name)
    assert again is not None and again.url == proxy.url and again.state == "running"
    with pytest.raises(toolhive.NotFoundError):
        toolhive.restart("no-such-proxy")


@pytest.mark.anyio
async def test_restart_keeps_the_port_async(everything_http: Any, name: str, state_dir: Path) -> None:
    toolhive.configure(state_dir=state_dir)
    proxy = await toolhive.start_async(everything_http.url, name=name)
    info = await toolhive.restart_async(name)
    assert (info.local_url, info.state) == (proxy.url, "running")
    saved = json.loads((state_dir / "proxies" / f"{name}.json").read_text())
    assert saved["config"]["port"] == port_of(proxy.url)
    await toolhive.stop_async(name)
    # A saved, stopped proxy restarts too, on its port.
    info = await toolhive.restart_async(name)
    assert (info.local_url, info.state) == (proxy.url, "running")
    with pytest.raises(toolhive.NotFoundError):
        await toolhive.restart_async("no-such-proxy")


def check_saved(state_dir: Path, store: Any, name: str) -> None:
    saved = (state_dir / "proxies" / f"{name}.json").read_text()
    assert TOKEN not in saved and "hdr-secret" not in saved, "saved configs hold references only"
    assert json.loads(saved)["config"]["bearer_token"] == {"secret": f"proxy/{name}/bearer_token"}
    assert store.data[f"proxy/{name}/bearer_token"] == TOKEN
    assert store.data[f"proxy/{name}/header/x-extra"] == "hdr-secret"


def check_removed(state_dir: Path, store: Any, name: str) -> None:
    assert proxy_keys(store, name) == [], store.data
    assert store.data == {"unrelated": "kept"}
    assert not (state_dir / "proxies" / f"{name}.json").exists()
    assert not (state_dir / "logs" / f"{name}.log").exists()
    assert name not in [i.name for i in toolhive.list()]
    with pytest.raises(toolhive.NotFoundError):
        toolhive.info(name)


OPTIONS = {"bearer_token": {"value": TOKEN}, "headers": {"X-Extra": {"value": "hdr-secret"}}}


def test_remove_deletes_the_saved_config_and_the_secrets_sync(bearer: BearerServer, name: str, state_dir: Path) -> None:
    store = DictStore({"unrelated": "kept"})
    toolhive.configure(state_dir=state_dir, secret_store=store)
    proxy = toolhive.start(bearer.url, OPTIONS, name=name)
    assert ping(proxy.url).status_code == 200
    check_saved(state_dir, store, name)
    toolhive.remove(name)
    assert proxy.state == "stopped"
    check_removed(state_dir, store, name)
    with pytest.raises(toolhive.NotFoundError):
        toolhive.remove(name)


@pytest.mark.anyio
async def test_remove_deletes_the_saved_config_and_the_secrets_async(bearer: BearerServer, name: str, state_dir: Path) -> None:
    store = AsyncDictStore({"unrelated": "kept"})
    toolhive.configure(state_dir=state_dir, secret_store=store)
    proxy = await toolhive.start_async(bearer.url, OPTIONS, name=name)
    check_saved(state_dir, store, name)
    await proxy.stop_async()  # a stopped proxy is removed the same way
    await toolhive.remove_async(name)
    check_removed(state_dir, store, name)
    with pytest.raises(toolhive.NotFoundError):
        await toolhive.remove_async(name)


# ---------------------------------------------------------------------------------------------
# other processes: a crash and restore(), a live one, corrupt state files
# ---------------------------------------------------------------------------------------------

CHILD = """
import os, sys, toolhive
state_dir, url, name, mode = sys.argv[1:]
toolhive.configure(state_dir=state_dir)
proxy = toolhive.start(url, name=name, bearer_token={"env": "TEST_TOKEN"})
print(proxy.url, os.getpid(), flush=True)
if mode == "crash":
    os._exit(0)  # no stop, no atexit: the state file still says "running"
sys.stdin.read()  # "serve": until the parent closes stdin
"""


def run_child(state_dir: Path, url: str, name: str, mode: str) -> tuple[subprocess.Popen[str], str, int]:
    env = child_env()
    env["TEST_TOKEN"] = TOKEN
    proc = subprocess.Popen(
        [python(), "-c", CHILD, str(state_dir), url, name, mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    assert len(line) == 2, proc.stderr.read() if proc.stderr else ""
    return proc, line[0], int(line[1])


def crashed_proxy(state_dir: Path, url: str, name: str) -> tuple[str, int]:
    proc, proxy_url, pid = run_child(state_dir, url, name, "crash")
    proc.wait(10)
    if proc.stdin:
        proc.stdin.close()
    return proxy_url, pid


def check_restored(results: list[toolhive.RestoreResult], name: str, url: str, bearer: BearerServer) -> None:
    assert [r.name for r in results] == [name], results
    restored = results[0]
    assert restored.error is None and restored.proxy is not None, restored
    assert restored.proxy.url == url, "restored on its saved port"
    assert ping(url).status_code == 200 and bearer.authorized_requests >= 1  # the token, from the file store
    info = toolhive.info(name)
    assert (info.state, info.stale, info.pid) == ("running", False, os.getpid())


def test_restore_after_a_crash_sync(bearer: BearerServer, name: str, state_dir: Path) -> None:
    url, dead = crashed_proxy(state_dir, bearer.url, name)
    toolhive.configure(state_dir=state_dir)
    info = toolhive.info(name)
    assert (info.state, info.stale, info.pid, info.local_url) == ("running", True, dead, url)
    assert [i for i in toolhive.list() if i.name == name] == [info]
    check_restored(toolhive.restore(), name, url, bearer)
    assert toolhive.restore() == [], "nothing left to restore"


@pytest.mark.anyio
async def test_restore_after_a_crash_async(bearer: BearerServer, name: str, state_dir: Path) -> None:
    url, _ = await asyncio.get_running_loop().run_in_executor(None, crashed_proxy, state_dir, bearer.url, name)
    toolhive.configure(state_dir=state_dir)
    assert toolhive.info(name).stale
    results = await toolhive.restore_async()
    await asyncio.get_running_loop().run_in_executor(None, check_restored, results, name, url, bearer)


def test_restore_reports_what_cannot_start(bearer: BearerServer, name: str, state_dir: Path) -> None:
    url, _ = crashed_proxy(state_dir, bearer.url, name)
    toolhive.configure(state_dir=state_dir, secret_store=DictStore())  # the token is not in this store
    (result,) = toolhive.restore()
    assert result.name == name and result.proxy is None
    assert isinstance(result.error, toolhive.SecretError), result
    assert result.error is result.error and name in repr(result)


def test_proxies_of_another_process(bearer: BearerServer, name: str, state_dir: Path) -> None:
    proc, url, pid = run_child(state_dir, bearer.url, name, "serve")
    try:
        toolhive.configure(state_dir=state_dir)
        info = toolhive.info(name)
        assert (info.state, info.pid, info.stale, info.local_url) == ("running", pid, False, url)
        assert toolhive.get(name) is None, "not served by this process"
        assert any("proxying" in line.message for line in toolhive.logs(name)), "read from its log file"
        with toolhive.follow_logs(name) as follower:
            toolhive.stop(name)  # through the child's control socket
            line = next(follower)
            assert isinstance(line, toolhive.LogLine)
        wait_until(lambda: toolhive.info(name).state == "stopped", what="stopped by the child")
        # A saved, stopped proxy restarts in this process, on its port.
        info = toolhive.restart(name)
        assert (info.pid, info.local_url) == (os.getpid(), url)
        assert ping(url).status_code == 200
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(20)


def test_corrupt_state_files_are_reported_and_the_others_still_listed(everything_http: Any, name: str, state_dir: Path) -> None:
    toolhive.configure(state_dir=state_dir)
    toolhive.start(everything_http.url, name=name).stop()
    broken = state_dir / "proxies" / "broken.json"
    broken.write_text("{not json")
    future = state_dir / "proxies" / "future.json"
    future.write_text(json.dumps({"schema_version": 99, "config": {}, "status": {}}))

    toolhive.configure(state_dir=state_dir)  # as a new process would see it
    assert [(i.name, i.state) for i in toolhive.list()] == [(name, "stopped")]
    errors = {e.path.name: e for e in toolhive.state_errors()}
    assert set(errors) == {"broken.json", "future.json"}, errors
    assert errors["broken.json"].path == broken and "corrupt" in errors["broken.json"].message
    assert "newer" in errors["future.json"].message, errors["future.json"].message
    assert str(errors["broken.json"]).startswith(str(broken))
    assert toolhive.restore() == []
    assert toolhive.restart(name).state == "running"
    assert broken.read_text() == "{not json", "never overwritten"


# ---------------------------------------------------------------------------------------------
# info, logs, follow_logs
# ---------------------------------------------------------------------------------------------


def test_info_logs_and_follow_logs_sync(everything_http: Any, name: str) -> None:
    proxy = toolhive.start(everything_http.url, name=name)
    assert toolhive.info(name) == proxy.info()
    assert toolhive.logs(name)[0].message == proxy.logs()[0].message
    for call in (toolhive.info, toolhive.logs, toolhive.follow_logs):
        with pytest.raises(toolhive.NotFoundError):
            call("no-such-proxy")
    follower = toolhive.follow_logs(name)
    got: list[toolhive.LogLine] = []
    t = threading.Thread(target=lambda: got.extend([next(follower)]))
    t.start()
    time.sleep(0.2)
    proxy.stop()  # logs a line
    t.join(10)
    assert got and isinstance(got[0], toolhive.LogLine), got
    follower.close()
    assert follower.closed and list(follower) == []


@pytest.mark.anyio
async def test_follow_logs_async(everything_http: Any, name: str) -> None:
    proxy = await toolhive.start_async(everything_http.url, name=name)
    async with toolhive.follow_logs(name) as follower:

        async def first() -> toolhive.LogLine:
            async for line in follower:
                return line
            raise AssertionError("the follower ended")

        task = asyncio.ensure_future(first())
        await asyncio.sleep(0.1)
        await proxy.stop_async()
        line = await asyncio.wait_for(task, 10)
        assert line.message and line.level in ("info", "warn")
    assert follower.closed


# ---------------------------------------------------------------------------------------------
# who shows the login URL
# ---------------------------------------------------------------------------------------------

LOGIN = {"client_id": "py-client"}


@pytest.fixture
def fake_browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`xdg-open` on PATH that records the URLs it was asked to open."""
    opened = tmp_path / "opened.txt"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "xdg-open"
    script.write_text(f'#!/bin/sh\necho "$1" >> "{opened}"\n')
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return opened


def opened_urls(opened: Path) -> list[str]:
    return opened.read_text().split() if opened.exists() else []


def login(url: str) -> None:
    assert httpx.get(callback_url(url), timeout=10).status_code == 200


def test_open_browser_false_leaves_the_url_to_a_callable(protected: FakeProtectedServer, name: str, fake_browser: Path) -> None:
    toolhive.configure(open_browser=False)
    events: list[toolhive.Event] = []
    with toolhive.subscribe(events.append, proxy=name):
        with toolhive.start(protected.url, name=name, oauth=LOGIN) as proxy:
            wait_until(lambda: any(e.type == "authorization_required" for e in events), what="authorization_required")
            required = next(e for e in events if e.type == "authorization_required")
            assert required.url is not None and required.url.startswith(protected.base + "/authorize?")
            login(required.url)
            wait_until(lambda: proxy.auth_state == "authenticated", what="authenticated")
            assert ping(proxy.url).status_code == 200
    assert opened_urls(fake_browser) == [], "open_browser=False: no browser"


def test_default_opens_the_browser_unless_a_handler_takes_the_login(protected: FakeProtectedServer, name: str, fake_browser: Path) -> None:
    # Nobody handles it: the system browser opens.
    with toolhive.start(protected.url, name=name, oauth=LOGIN) as proxy:
        wait_until(lambda: len(opened_urls(fake_browser)) == 1, what="the browser")
        login(opened_urls(fake_browser)[0])
        wait_until(lambda: proxy.auth_state == "authenticated", what="authenticated")

    # A handler for the proxy takes it: no browser.
    urls: list[str] = []
    with toolhive.on_authorization_required(lambda e: urls.append(e.url or ""), proxy=name + "-h") as handler:
        with toolhive.start(protected.url, name=name + "-h", oauth=LOGIN):
            wait_until(lambda: len(urls) == 1, what="the handler")
            assert urls[0].startswith(protected.base + "/authorize?")
        # A proxy with oauth.skip_browser gets none either.
        with toolhive.start(protected.url, name=name + "-s", oauth={**LOGIN, "skip_browser": True}) as skipped:
            wait_until(lambda: skipped.auth_state == "authorizing", what="authorizing")
    assert handler.closed
    time.sleep(0.3)
    assert len(opened_urls(fake_browser)) == 1 and len(urls) == 1


def test_open_browser_true_opens_it_even_with_a_handler(protected: FakeProtectedServer, name: str, fake_browser: Path) -> None:
    toolhive.configure(open_browser=True)
    urls: list[str] = []
    with toolhive.on_authorization_required(lambda e: urls.append(e.url or "")):
        with toolhive.start(protected.url, name=name, oauth=LOGIN):
            wait_until(lambda: len(urls) == 1 and len(opened_urls(fake_browser)) == 1, what="handler and browser")
    assert urls == opened_urls(fake_browser)


def test_on_authorization_required_rejects_non_callables() -> None:
    with pytest.raises(TypeError, match="handler must be callable"):
        toolhive.on_authorization_required("https://example.com")  # type: ignore[arg-type]
