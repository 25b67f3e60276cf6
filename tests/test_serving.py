"""``greenfin serve --workers N``: one listening socket per worker, the kernel spreading connections
over them; the server stops cleanly and refuses a port already taken."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from greenfin.api.serving import balanced_sockets_available, listening_socket

pytestmark = pytest.mark.skipif(
    not balanced_sockets_available(),
    reason="SO_REUSEPORT balancing is Linux-only; elsewhere uvicorn's workers serve",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_kernel_spreads_connections_over_the_workers_sockets() -> None:
    port = free_port()
    sockets = [listening_socket("127.0.0.1", port) for _ in range(2)]
    for sock in sockets:
        sock.listen(64)
        sock.setblocking(False)
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(40)]
    time.sleep(0.2)
    accepted = []
    for sock in sockets:
        count = 0
        while True:
            try:
                conn, _ = sock.accept()
            except BlockingIOError:
                break
            conn.close()
            count += 1
        accepted.append(count)
    for client in clients + sockets:
        client.close()
    # With one shared socket a single worker may take all 40; here each gets some (all on one
    # side would happen with probability 2**-39 under the kernel's hash).
    assert sum(accepted) == 40 and min(accepted) > 0, accepted


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def _workers(pid: int, expected: int) -> list[int]:
    """The server's worker processes (spawned: their command line runs spawn_main), once there are
    ``expected`` of them; a loaded machine may list a child before its command line is replaced."""
    deadline = time.monotonic() + 30
    while True:
        children = {child: Path(f"/proc/{child}/cmdline").read_bytes() for child in _children(pid)}
        workers = [child for child, cmdline in children.items() if b"spawn_main" in cmdline]
        if len(workers) >= expected or time.monotonic() > deadline:
            assert len(workers) == expected, children
            return workers
        time.sleep(0.2)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "greenfin.cli", "serve", "--db", f"sqlite:///{tmp_path / 'store.db'}",
         "--port", str(port), "--workers", "2"],
        env={**os.environ, "GREENFIN_SECRET_KEY": "test-only-key-" + "x" * 20}, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def _wait_until_served(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        try:
            if httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("the server did not answer within 60 s")


def test_serve_with_workers_answers_and_stops_cleanly(server: tuple[subprocess.Popen[bytes], int]) -> None:
    process, port = server
    _wait_until_served(port, process)
    workers = _workers(process.pid, 2)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        assert client.get("/login").status_code == 200
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert all(not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
               for pid in workers)  # fmt: skip


@pytest.mark.parametrize("shared", [False, True], ids=["plain", "reuseport"])
def test_serve_refuses_a_port_already_taken(tmp_path: Path, shared: bool) -> None:
    """Even by another server's SO_REUSEPORT socket, which would otherwise share its traffic."""
    port = free_port()
    with listening_socket("127.0.0.1", port) if shared else socket.socket() as taken:
        if not shared:
            taken.bind(("127.0.0.1", port))
        taken.listen(1)
        result = subprocess.run(
            [sys.executable, "-m", "greenfin.cli", "serve", "--db", f"sqlite:///{tmp_path / 'store.db'}",
             "--port", str(port), "--workers", "2"],
            env={**os.environ, "GREENFIN_SECRET_KEY": "test-only-key-" + "x" * 20}, capture_output=True,
            timeout=120,
        )  # fmt: skip
    assert result.returncode == 1
    assert "已被占用" in result.stderr.decode()


def exits_at_once(_host: str, _port: int) -> None:
    """A worker that cannot start (its process exits with code 3)."""
    raise SystemExit(3)


def test_serve_stops_when_a_worker_dies_on_start(capfd: pytest.CaptureFixture[str]) -> None:
    """A worker that dies on start is not restarted forever: the server stops and says so."""
    from greenfin.api.serving import serve_workers

    assert serve_workers("127.0.0.1", free_port(), 2, target=exits_at_once) == 1
    assert "工作进程启动后即退出（代码 3）" in capfd.readouterr().err


def test_serve_migrates_a_new_store_once_before_its_workers_start(tmp_path: Path) -> None:
    """Workers opening a new store together each ran the migrations, and the losers died."""
    from sqlalchemy import create_engine

    from greenfin.store.database import is_current

    store = tmp_path / "fresh.db"
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "greenfin.cli", "serve", "--db", f"sqlite:///{store}", "--port", str(port),
         "--workers", "2"],
        env={**os.environ, "GREENFIN_SECRET_KEY": "test-only-key-" + "x" * 20}, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        _wait_until_served(port, process)
        _workers(process.pid, 2)
        assert is_current(create_engine(f"sqlite:///{store}"))
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, process.stderr.read().decode() if process.stderr else ""
    finally:
        if process.poll() is None:
            process.kill()


def test_workers_do_not_outlive_a_killed_server(server: tuple[subprocess.Popen[bytes], int]) -> None:
    """kill -9 (or a closed terminal) leaves no worker holding the port."""
    process, port = server
    _wait_until_served(port, process)
    workers = _workers(process.pid, 2)
    process.kill()
    process.wait(timeout=10)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in workers)


def _alive(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        return "zombie" not in status.read_text()
    except FileNotFoundError:
        return False


def test_callers_are_looked_up_once_at_a_time_and_served_while_a_refresh_runs() -> None:
    """A stampede at expiry: 50 requests, one look-up; an expired entry is served while it is
    refreshed; a token revoked meanwhile is refused once the refresh has seen it."""
    import asyncio
    import threading

    from greenfin.api.security import PrincipalCache
    from greenfin.service.auth import Principal

    who = Principal("officer", "专员", ("officer",), "token")
    calls: list[str] = []
    gate = threading.Event()
    answer: list[Principal | None] = [who]

    def load() -> Principal | None:
        calls.append("load")
        gate.wait(5)
        return answer[0]

    async def scenario() -> None:
        cache = PrincipalCache(ttl=0.2)
        waiting = [asyncio.create_task(cache.resolve("k", load)) for _ in range(50)]
        await asyncio.sleep(0.05)
        gate.set()
        assert [await task for task in waiting] == [who] * 50 and calls == ["load"]
        await asyncio.sleep(0.25)  # expired, not yet twice the ttl: served stale while refreshed
        gate.clear()
        answer[0] = None  # revoked meanwhile
        assert await cache.resolve("k", load) == who
        await asyncio.sleep(0.05)
        assert calls == ["load", "load"]  # the one refresh, started in the background
        assert await cache.resolve("k", load) == who  # still served while it runs
        gate.set()
        await asyncio.sleep(0.05)
        assert await cache.resolve("k", load) is None

    asyncio.run(scenario())
