"""Studio fixtures: one registry of the bundled model for the whole session, an in-process
client (httpx through Starlette's TestClient) and a real uvicorn server on a free loopback port.
The Studio's dependencies are the `studio` extra: without them these tests skip."""

from __future__ import annotations

import threading
import time
import warnings

import pytest

pytest.importorskip("fastapi", reason="the studio extra (fastapi) is not installed")
pytest.importorskip("httpx", reason="httpx (test extra) is not installed")
pytest.importorskip("uvicorn", reason="the studio extra (uvicorn) is not installed")

with warnings.catch_warnings():  # starlette 1.x suggests httpx2; httpx is what we test with
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient  # noqa: E402

from musicvae.studio.app import create_app  # noqa: E402
from musicvae.studio.limits import Limits  # noqa: E402
from musicvae.studio.registry import ModelRegistry  # noqa: E402


@pytest.fixture(scope="session")
def registry() -> ModelRegistry:
    return ModelRegistry.from_paths()


@pytest.fixture(scope="session")
def limits() -> Limits:
    return Limits()


@pytest.fixture(scope="session")
def client(registry, limits):
    with TestClient(create_app(registry, limits)) as c:
        yield c


@pytest.fixture(scope="session")
def client_for():
    """TestClient itself, for tests that build their own app."""
    return TestClient


@pytest.fixture(scope="session")
def model(registry):
    """The bundled model's TrainedModel (the same object the app serves)."""
    return registry.default.model


@pytest.fixture(scope="session")
def live_server(registry, limits):
    """A real uvicorn server in a thread on 127.0.0.1 (a free port); yields its base URL."""
    import uvicorn

    config = uvicorn.Config(
        create_app(registry, limits), host="127.0.0.1", port=0, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the studio server did not start")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
