"""Serving from several processes, each listening on its own socket of the same port.

Why not uvicorn's own ``--workers``: its workers share one listening socket, and the worker that
wakes first accepts every connection waiting (asyncio accepts up to a hundred per wake-up).
Keep-alive clients that connect together therefore pile onto one process: of 100 connections,
59 to 74 landed on one of two workers on the development machine, and that worker's queue set
the latency of everyone on it.  With ``SO_REUSEPORT`` each worker has its own socket and the
Linux kernel spreads new connections over them by a hash of the addresses, as nginx's and
gunicorn's ``reuseport`` options do.  Elsewhere (no such balancing, or no such option) the
uvicorn supervisor is used as before.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType

APP_FACTORY = "greenfin.api.app:create_app"
#: A worker that dies sooner than this after starting is not restarted: it would only die again
#: (the port taken, the store unreachable), so the server stops and says so.
EARLY_DEATH_S = 5.0


def balanced_sockets_available() -> bool:
    """Whether the kernel balances connections over sockets sharing a port (Linux ≥ 3.9)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound with SO_REUSEPORT; the worker's event loop starts listening on it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def port_is_free(host: str, port: int) -> bool:
    """Whether nothing listens on the port, tried without SO_REUSEPORT.

    Sockets with SO_REUSEPORT share a port with any other of the same user: without this check a
    second ``greenfin serve`` on a busy port would silently take half of the first one's traffic.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _die_with_parent() -> None:
    """Ask Linux to send this process SIGTERM when its parent dies (PR_SET_PDEATHSIG), so a
    supervisor killed outright (kill -9, a closed terminal) leaves no worker holding the port."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    parent = multiprocessing.parent_process()
    if parent is not None and os.getppid() != parent.pid:  # it died before the request was made
        raise SystemExit(0)


def _worker(host: str, port: int) -> None:
    import uvicorn

    _die_with_parent()

    sock = listening_socket(host, port)
    config = uvicorn.Config(APP_FACTORY, factory=True, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


def serve_workers(host: str, port: int, workers: int, target: Callable[[str, int], None] = _worker) -> int:
    """Run ``workers`` processes of ``target`` until interrupted; restart one that dies after having
    started (``target`` is the worker's entry point, an importable function of host and port)."""
    if not port_is_free(host, port):
        print(f"端口 {host}:{port} 已被占用 / the port is already in use", file=sys.stderr)
        return 1
    context = multiprocessing.get_context("spawn")
    stopping = False

    def start() -> tuple[BaseProcess, float]:
        process = context.Process(target=target, args=(host, port), daemon=False)
        process.start()
        return process, time.monotonic()

    def stop(_signal: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    running = dict(start() for _ in range(workers))
    code = 0
    try:
        while not stopping:
            ended = wait([process.sentinel for process in running], timeout=0.5)
            if stopping:  # an interrupt reaches the workers too: their exit is not a death
                break
            for process in [p for p in running if p.sentinel in ended]:
                started = running.pop(process)
                process.join(timeout=5)  # its sentinel fires before its exit code is known
                if time.monotonic() - started < EARLY_DEATH_S:
                    print(
                        f"工作进程启动后即退出（代码 {process.exitcode}），服务停止 / a worker died on start",
                        file=sys.stderr,
                    )
                    stopping, code = True, 1
                    break
                print(
                    f"工作进程退出（代码 {process.exitcode}），已重启 / a worker died and was restarted",
                    file=sys.stderr,
                )
                new, when = start()
                running[new] = when
    finally:
        for process in running:
            if process.is_alive():
                process.terminate()  # uvicorn shuts down gracefully on SIGTERM
        for process in running:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code
