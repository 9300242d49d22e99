"""`musicvae studio` as a user starts it, and a real server under concurrent requests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from musicvae.cli import main


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_help_names_the_loopback_default(capsys):
    with pytest.raises(SystemExit):
        main(["studio", "--help"])
    out = capsys.readouterr().out
    assert "127.0.0.1" in out and "--model" in out and "--open" in out


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--port", "70000"], "--port must be in 0..65535"),
        (["--port", "0", "--model", "/nonexistent/model"], "no model at /nonexistent/model"),
        (["--port", "0", "--host", "no-such-host.invalid"], "cannot listen on"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(capsys, argv, words):
    assert main(["studio", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1 and err.startswith("error: ")


def test_a_port_in_use_is_a_usage_error(capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["studio", "--port", str(port)]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_console_command_serves_the_page_and_stops_on_ctrl_c():
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "musicvae", "studio", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read()
                assert time.monotonic() < deadline, "the studio did not start in 90 s"
                time.sleep(0.2)
        assert health.json()["ok"] is True
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert "MusicVAE Studio" in page.text
    finally:
        process.send_signal(signal.SIGINT)
        try:
            out, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            out, _ = process.communicate()
    assert process.returncode == 0
    assert f"MusicVAE Studio on http://127.0.0.1:{port}/" in out
    assert "Traceback" not in out


def test_concurrent_requests_do_not_corrupt_each_other(live_server, client):
    """16 seeded requests at once on one model give what they give one at a time."""
    bodies = [{"n": 2, "temperature": 0.8, "seed": seed} for seed in range(16)]

    def ask(body):
        with httpx.Client(base_url=live_server, timeout=60) as http:
            response = http.post("/api/sample", json=body)
            response.raise_for_status()
            return response.json()["clips"]

    with ThreadPoolExecutor(max_workers=16) as pool:
        together = list(pool.map(ask, bodies))
    one_by_one = [client.post("/api/sample", json=b).json()["clips"] for b in bodies]
    assert together == one_by_one
    assert len({str(c) for c in together}) == 16  # and the seeds really differ
