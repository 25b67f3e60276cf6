"""Benchmark: the web app and API on a big book, served by uvicorn on loopback.

Run with ``make bench-web`` (or ``.venv/bin/python bench/web.py --loans 1000000``).

- builds (once, then reuses) a SQLite store with the generated book, imported and labelled;
- serves it with uvicorn in its own process;
- times the loan list (first and a deep page) and, when the pages are installed, the dashboard,
  the loan-list page and a loan's page: median and worst of 20 requests, against the floor of the
  middle page's SQL run directly on the store in this process;
- waits until every worker has its start-up summary of the book;
- fires single-project benefit assessments from 100 concurrent keep-alive connections (a raw
  HTTP/1.1 client, so that the load generator costs less than the server) and reports p50/p99
  latency, against the same assessment called in-process (the server's floor);
- says where the machine's CPU went during that load: the server's workers, the load generator,
  other processes, and time stolen by the hypervisor (``bench/proctree.py``), so that a tail
  caused by something else on the machine shows as such.

Targets (issue 7): pages <= 300 ms; assessment p99 <= 50 ms under 100 concurrent requests.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from greenfin.benefits.projects import assess_project
from greenfin.demo.generator import write_book
from greenfin.reference.factors import DEFAULT_POLICY
from greenfin.service.auth import create_token
from greenfin.service.green_book import book_summary
from greenfin.service.identification import label_book
from greenfin.service.importing import import_files
from greenfin.service.loans import loan_query
from greenfin.service.users import add_user
from greenfin.store.database import open_store
from greenfin.store.paging import page_of
from greenfin.store.schema import loan_labels, loans, users
from proctree import MachineTime, machine_time, tree_cpu_seconds

PAGE_TARGET_MS = 300.0
P99_TARGET_MS = 50.0
#: Requests sent on each connection before recording (storm says why).
WARM = 3
#: Above this share of the cores taken by other processes or the hypervisor, the run is flagged.
DISTURBED = 0.05
PROJECT = {
    "methodology": "renewable-power", "technology": "wind", "region_code": "431230", "reporting_year": 2025,
    "capacity": "100 MW", "inputs": {"generation": "21000万千瓦时"}, "loan_balance": "48000万元",
    "total_investment": "70000万元",
}  # fmt: skip


def build(directory: Path, size: int) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{directory / f'book_{size}.db'}"
    engine = open_store(url)
    with engine.connect() as connection:
        have = connection.execute(select(func.count()).select_from(loans)).scalar() or 0
    if have != size:
        started = time.perf_counter()
        book = write_book(directory / f"book_{size}.csv", size, 20261126)
        import_files(engine, [book], actor="bench")
        label_book(engine, actor="bench")
        print(f"built a {size:,}-loan store in {time.perf_counter() - started:.0f} s: {url}")
    with engine.connect() as connection:
        known = connection.execute(select(users.c.username).where(users.c.username == "bench")).first()
    if known is None:
        add_user(engine, "bench", "bench-password-1", ["admin"], actor="bench")
    return url


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def timed(client: httpx.Client, path: str, headers: dict[str, str], runs: int = 20) -> tuple[float, float]:
    """Median and worst round trip of one client on loopback, one request at a time.

    The round trip is the server's time plus the client's own work and loopback transport (well
    under a millisecond together, see the assessment's in-process floor against its p50), so it is
    an upper bound of the server time the target is about, not an estimate that could flatter it.
    """
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(path, headers=headers)
        samples.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return statistics.median(samples), max(samples)


def settle(base: str) -> None:
    """Wait until every worker has finished its start-up summary of the book.

    Each worker computes the dashboard's summary in a background thread when it starts; measuring
    latency while that runs would measure the warm-up.  New connections land on any worker, so ten
    fast dashboards in a row on fresh connections mean all are warm.
    """
    fast = 0
    deadline = time.monotonic() + 600
    while fast < 10 and time.monotonic() < deadline:
        with httpx.Client(base_url=base, timeout=60) as fresh:
            fresh.post("/api/v1/auth/login", json={"username": "bench", "password": "bench-password-1"})
            started = time.perf_counter()
            fresh.get("/")
            fast = fast + 1 if time.perf_counter() - started < 0.2 else 0
        time.sleep(0.1)


async def storm(port: int, token: str, clients: int, each: int) -> list[float]:
    """``clients`` connections, each sending assessments back to back; every latency in ms.

    The load comes from a raw keep-alive HTTP/1.1 client (like wrk, not like a browser): a
    general-purpose Python client spends more CPU per request than the server does, and on a
    2-core machine that would measure the client instead of greenfin.
    """
    body = json.dumps(PROJECT).encode()
    request = (
        f"POST /api/v1/benefits/assess HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    latencies: list[float] = []

    async def one_client(warm: int, rounds: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for done in range(warm + rounds):
                started = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                if done >= warm:
                    latencies.append((time.perf_counter() - started) * 1000)
                if not head.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(head.decode(errors="replace"))
        finally:
            writer.close()

    # The first requests on each connection are not recorded: 100 connections opened at once are a
    # cold start (accepting them, each connection's first request), not the steady load the
    # target is about; they were up to 2 % of the samples, i.e. the whole p99.
    await asyncio.gather(*(one_client(WARM, each) for _ in range(clients)))
    return latencies


def _run(work: Coroutine[Any, Any, list[float]]) -> list[float]:
    """Run the load on uvloop where it is installed (with uvicorn[standard]): the load generator
    shares the machine's two cores with the server, so the less it costs the better."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it on Linux
        return asyncio.run(work)
    return uvloop.run(work)


def cpu_shares(machine: MachineTime, server: float, client: float, requests: int) -> str:
    """Where the cores went during the load, as shares of all cores' time, and the CPU per request.

    With 100 requests always in flight the cores are full, so the latency is set by how they are
    shared: if other processes or the hypervisor took a visible share, the tail says so.
    """
    others = max(0.0, machine.busy - server - client)

    def share(seconds: float) -> str:
        return f"{100 * seconds / machine.total:.1f} %"

    line = (
        f"CPU during the load ({machine.total:.1f} core-seconds): server {share(server)} "
        f"({server / requests * 1e6:.0f} µs a request), load generator {share(client)} "
        f"({client / requests * 1e6:.0f} µs a request), other processes {share(others)}, "
        f"stolen by the hypervisor {share(machine.stolen)}"
    )
    if (others + machine.stolen) / machine.total > DISTURBED:
        line += "\nnote: something else had a share of the cores during the load; its figures include that"
    return line


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loans", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/greenfin-bench-web"))
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--each", type=int, default=200, help="assessments recorded per client")
    parser.add_argument("--workers", type=int, default=2, help="server processes (greenfin serve --workers)")
    args = parser.parse_args()

    url = build(args.dir, args.loans)
    engine = open_store(url)
    token = create_token(engine, "bench", f"bench {time.time():.0f}")
    # floors, in this process
    started = time.perf_counter()
    with engine.connect() as connection:  # what the middle page's request runs, without HTTP
        connection.execute(select(func.count()).select_from(loans)).scalar()
        run_id = connection.execute(select(func.max(loan_labels.c.run_id))).scalar()
        query, _label = loan_query(run_id)
        middle = page_of(
            query, loans.c.loan_id, descending=False, size=50, offset=args.loans // 2, filtered=False
        )
        middle_id = connection.execute(middle).all()[0].loan_id
    sql_floor = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    book_summary(engine, DEFAULT_POLICY, dt.date.today().year)
    summary_cold = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(200):
        assess_project(PROJECT, DEFAULT_POLICY)
    assess_floor = (time.perf_counter() - started) * 1000 / 200

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "greenfin.cli", "serve", "--db", url, "--port", str(port), "--workers", str(args.workers)],
        env={**os.environ, "GREENFIN_SECRET_KEY": os.environ.get("GREENFIN_SECRET_KEY", "bench-only-key")},
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            for _ in range(100):
                try:
                    client.get("/openapi.json")
                    break
                except httpx.TransportError:
                    time.sleep(0.2)
            headers = {"Authorization": f"Bearer {token}"}
            results = {
                "API loan list, page 1": timed(client, "/api/v1/loans?page=1&size=50", headers),
                "API loan list, middle page": timed(
                    client, f"/api/v1/loans?page={args.loans // 100}&size=50", headers
                ),
            }
            login = client.post(
                "/api/v1/auth/login", json={"username": "bench", "password": "bench-password-1"}
            )
            login.raise_for_status()
            if client.get("/", follow_redirects=False).status_code == 404:
                print("the pages are not installed (an API-only install): only the API is timed")
            else:  # a login that does not open the pages is a failure, not a reason to skip them
                results["dashboard page"] = timed(client, "/", {})
                results["loan list page"] = timed(client, "/loans", {})
                results["loan detail page"] = timed(client, f"/loans/{middle_id}", {})
            settle(base)
        machine_before, server_before = machine_time(), tree_cpu_seconds(server.pid)
        own_before = sum(os.times()[:2])
        latencies = _run(storm(port, token, args.clients, args.each))
        machine_after, server_after = machine_time(), tree_cpu_seconds(server.pid)
        own_after = sum(os.times()[:2])
    finally:
        server.terminate()
        server.wait(timeout=10)

    worst_page = max(median for median, _ in results.values())
    ordered = sorted(latencies)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(
        f"book: {args.loans:,} loans; SQL floor (the middle page's count and rows, in process) {sql_floor:.0f} ms"
    )
    print(
        f"dashboard summary computed cold (each worker at start, and after each change to the book): "
        f"{summary_cold:.1f} s; the page is timed with it kept"
    )
    for name, (median, worst) in results.items():
        print(
            f"{name:28s}: median {median:7.1f} ms, worst {worst:7.1f} ms  ({median / sql_floor:.1f}x the SQL floor)"
        )
    print(
        f"assessment, {args.clients} concurrent clients x {args.each}: p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
        f"p99.9 {ordered[int(len(ordered) * 0.999)]:.1f} ms, worst {ordered[-1]:.1f} ms "
        f"(in-process floor {assess_floor:.2f} ms; p50 {p50 / assess_floor:.0f}x it)"
    )
    if machine_before is not None and machine_after is not None:
        print(
            cpu_shares(
                machine_after - machine_before,
                server_after - server_before,
                own_after - own_before,
                args.clients * (args.each + WARM),
            )
        )
    met = worst_page <= PAGE_TARGET_MS and p99 <= P99_TARGET_MS
    print(json.dumps({"pages_ms": round(worst_page, 1), "p99_ms": round(p99, 1), "targets_met": met}))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
