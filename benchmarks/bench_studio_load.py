"""Load test of MusicVAE Studio on loopback: N concurrent users sampling for a fixed time.

Usage: python benchmarks/bench_studio_load.py [--users 20] [--seconds 60] [--n 4]
       [--url http://127.0.0.1:PORT/]

Without --url it starts `python -m musicvae studio` on a free loopback port (the bundled
model), waits for it, runs the load and stops it. Each user posts /api/sample (n melodies,
temperature 0.5) again as soon as the previous answer arrives, until the time is up or the
request cap is reached. Prints requests, errors, throughput and latency percentiles. Only
loopback addresses are accepted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from urllib.parse import urlparse

import httpx
import numpy as np

from musicvae.studio.server import is_loopback


async def _user(client, body, deadline, stats, cap) -> None:
    while time.monotonic() < deadline and stats["requests"] < cap:
        stats["requests"] += 1
        start = time.perf_counter()
        try:
            response = await client.post("/api/sample", json=body)
            ok = response.status_code == 200 and len(response.json()["clips"]) == body["n"]
        except (httpx.HTTPError, ValueError, KeyError):
            ok = False
        stats["latencies"].append(time.perf_counter() - start)
        if not ok:
            stats["errors"] += 1


async def _load(url, users, seconds, n, cap) -> dict:
    stats = {"requests": 0, "errors": 0, "latencies": []}
    limits = httpx.Limits(max_connections=users, max_keepalive_connections=users)
    timeout = httpx.Timeout(120.0)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as client:
        deadline = time.monotonic() + seconds
        started = time.perf_counter()
        body = {"n": n, "temperature": 0.5}
        await asyncio.gather(*(_user(client, body, deadline, stats, cap) for _ in range(users)))
        wall = time.perf_counter() - started
    latency = np.array(stats["latencies"]) * 1000.0
    pct = np.percentile(latency, [50, 95, 99]) if len(latency) else [float("nan")] * 3
    return {
        "users": users,
        "seconds": round(wall, 1),
        "requests": stats["requests"],
        "errors": stats["errors"],
        "requests_per_s": stats["requests"] / wall,
        "melodies_per_s": stats["requests"] * n / wall,
        "p50_ms": float(pct[0]),
        "p95_ms": float(pct[1]),
        "p99_ms": float(pct[2]),
        "max_ms": float(latency.max()) if len(latency) else float("nan"),
    }


def run_load(url: str, users: int, seconds: float, n: int = 4, cap: int = 100_000) -> dict:
    """Run the load against a Studio at a loopback `url`; returns the summary."""
    host = urlparse(url).hostname or ""
    if not is_loopback(host):
        raise ValueError(f"the load test only targets loopback addresses, not {host!r}")
    if users < 1 or seconds <= 0 or cap < 1:
        raise ValueError("users, seconds and the request cap must be positive")
    return asyncio.run(_load(url, users, seconds, n, cap))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server() -> tuple[subprocess.Popen, str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "musicvae", "studio", "--port", str(port)],
        env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the studio exited before it served")
        try:
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.25)
    process.kill()
    raise SystemExit("the studio did not start within 120 s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--n", type=int, default=4, help="melodies per request")
    parser.add_argument("--max-requests", type=int, default=100_000)
    parser.add_argument("--url", help="a running Studio on loopback (default: start one)")
    args = parser.parse_args()
    process = None
    url = args.url
    if url is None:
        process, url = _start_server()
    try:
        httpx.post(f"{url.rstrip('/')}/api/sample", json={"n": args.n}, timeout=60)  # warm-up
        result = run_load(url, args.users, args.seconds, args.n, args.max_requests)
    finally:
        if process is not None:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
    print(
        f"{result['users']} users, {result['seconds']} s, sample n={args.n}: "
        f"{result['requests']} requests, {result['errors']} errors, "
        f"{result['requests_per_s']:.1f} req/s ({result['melodies_per_s']:.0f} melodies/s)"
    )
    print(
        f"latency ms: p50 {result['p50_ms']:.0f}, p95 {result['p95_ms']:.0f}, "
        f"p99 {result['p99_ms']:.0f}, max {result['max_ms']:.0f}"
    )
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
