"""Serve the Studio with uvicorn: check the address first, load the models, open a browser."""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import webbrowser

from musicvae.studio.limits import Limits

log = logging.getLogger(__name__)

LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: only this machine can reach the server."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_address(host: str, port: int) -> None:
    """A ValueError with one line when the server cannot listen on host:port."""
    if not 0 <= port <= 65535:
        raise ValueError(f"--port must be in 0..65535, got {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise ValueError(f"cannot listen on {host}: {e.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as e:
            raise ValueError(
                f"cannot listen on {host}:{port}: {e.strerror or e} (choose another --port)"
            ) from None


def url_of(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}/"


def serve(
    models=(),
    host: str = "127.0.0.1",
    port: int = 8000,
    open_browser: bool = False,
    device: str = "cpu",
    limits: Limits | None = None,
    announce=log.info,
) -> None:
    """Load the models (the bundled ones plus `models`) and serve until interrupted."""
    import uvicorn

    from musicvae.studio.app import create_app
    from musicvae.studio.registry import ModelRegistry

    check_address(host, port)
    registry = ModelRegistry.from_paths(models, device=device)
    hosts = (
        {"127.0.0.1", "localhost", "::1", host.strip("[]").lower()} if is_loopback(host) else None
    )
    app = create_app(registry, limits, allowed_hosts=hosts)
    url = url_of(host, port)
    names = ", ".join(f"{e.id} ({e.model.config.name})" for e in registry.entries())
    announce(f"MusicVAE Studio on {url} with {names}; Ctrl+C stops it")
    if not is_loopback(host):
        announce(f"warning: {host} is not a loopback address: other machines can reach the Studio")
    if open_browser:
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
