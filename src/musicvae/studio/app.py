"""The Studio web app: a JSON API over service.py plus the static page, served from memory.

create_app(registry, limits) -> FastAPI. Routes validate (pydantic types, then Limits in
service), call one service function and respond; inference runs in the server's thread pool
under each model's lock. Every error is JSON {"error": "one line"}: 404 unknown model or page,
413 too large, 415 not MIDI, 422 bad request, 500 a bug (logged with its traceback).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from musicvae import __version__
from musicvae.studio import service
from musicvae.studio.limits import Limits
from musicvae.studio.registry import ModelRegistry

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "media-src 'self' blob:; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; "
        "base-uri 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


# ------------------------------------------------------------------ request bodies


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoteIn(Strict):
    pitch: int
    start: int
    end: int
    velocity: int = Field(80, ge=1, le=127)
    program: int = Field(0, ge=0, le=127)
    is_drum: bool = False
    instrument: int = Field(0, ge=0, le=1023)


class SampleIn(Strict):
    model: str | None = None
    n: int = 4
    temperature: float | None = 0.5
    seed: int | None = None
    length: int | None = None


class ClipIn(Strict):
    """A clip handed back: its notes and, when this model made it, its code z."""

    notes: list[NoteIn]
    z: list[float] | None = None


class InterpolateIn(Strict):
    model: str | None = None
    start: ClipIn
    end: ClipIn
    steps: int = 7
    method: str = "slerp"
    temperature: float | None = None
    seed: int | None = None


class EncodeIn(Strict):
    model: str | None = None
    clips: list[ClipIn]


class BlendIn(Strict):
    model: str | None = None
    corners: list[list[float]]
    x: float
    y: float
    temperature: float | None = None
    seed: int | None = None


class AttributesIn(Strict):
    model: str | None = None
    clip: ClipIn
    amounts: dict[str, float]
    temperature: float | None = None
    seed: int | None = None


class ClipOut(Strict):
    name: str = "clip"
    notes: list[NoteIn]
    kind: str = "melody"
    steps_per_quarter: int = Field(4, ge=1, le=96)


class ExportIn(Strict):
    clips: list[ClipOut]


# ------------------------------------------------------------------ errors and limits


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _validation_message(exc: RequestValidationError) -> str:
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    more = len(exc.errors()) - 1
    tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more > 0 else ""
    return f"{where or 'request'}: {first.get('msg', 'invalid')}{tail}"


class BodyLimit:
    """ASGI middleware: a request body over `max_bytes` gets 413 before it is read whole
    (by its Content-Length, or while it streams in)."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def _refuse(self, send) -> None:
        body = f'{{"error": "request body over {self.max_bytes // 1024} KiB"}}'.encode()
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            return await self._refuse(send)
        state = {"received": 0, "started": False}

        async def limited_receive():
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message):
            state["started"] |= message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not state["started"]:
                await self._refuse(send)


class _TooLarge(Exception):
    pass


def _static_files() -> dict[str, tuple[bytes, str]]:
    """Every file of studio/static, read once: the page can only get these, by exact name."""
    files = {}
    for path in sorted(STATIC.rglob("*")):
        if path.is_file() and path.suffix in CONTENT_TYPES:
            files[path.relative_to(STATIC).as_posix()] = (
                path.read_bytes(),
                CONTENT_TYPES[path.suffix],
            )
    return files


# ------------------------------------------------------------------ the app


def _host_name(header: str) -> str:
    """The name in a Host header, without port ("[::1]:8000" -> "::1")."""
    try:
        return (urlsplit(f"//{header}").hostname or "").lower()
    except ValueError:
        return ""


def create_app(
    registry: ModelRegistry, limits: Limits | None = None, allowed_hosts=None
) -> FastAPI:
    """The Studio app over `registry`'s models. With `allowed_hosts` (names without port),
    requests naming another Host get 400: a page on another site that rebinds its DNS name to
    127.0.0.1 cannot talk to the Studio."""
    limits = limits or Limits()
    app = FastAPI(
        title="MusicVAE Studio",
        version=__version__,
        docs_url=None,  # Swagger and ReDoc pages load their code from a CDN
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.registry = registry
    app.state.limits = limits
    static = _static_files()

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError):
        return _error(422, _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException):
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(service.UploadError)
    async def on_upload(request: Request, exc: service.UploadError):
        return _error(exc.status, str(exc))

    @app.exception_handler(KeyError)
    async def on_key(request: Request, exc: KeyError):
        return _error(404, str(exc.args[0]) if exc.args else "not found")

    @app.exception_handler(ValueError)
    async def on_value(request: Request, exc: ValueError):
        return _error(422, str(exc).splitlines()[0] if str(exc) else "bad request")

    @app.exception_handler(Exception)
    async def on_bug(request: Request, exc: Exception):
        log.exception("studio: %s %s failed", request.method, request.url.path)
        return _error(500, f"internal error ({type(exc).__name__}); see the server log")

    @app.middleware("http")
    async def headers(request: Request, call_next):
        if allowed_hosts is not None:
            host = _host_name(request.headers.get("host", ""))
            if host not in allowed_hosts:
                return _error(400, f"unexpected Host {host!r}; open the Studio by its address")
        response = await call_next(request)
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        if request.url.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.get("/", include_in_schema=False)
    def index():
        body, kind = static["index.html"]
        return Response(body, media_type=kind)

    @app.get("/static/{name:path}", include_in_schema=False)
    def static_file(name: str):
        if name not in static:
            return _error(404, f"no static file {name!r}")
        body, kind = static[name]
        return Response(body, media_type=kind, headers={"Cache-Control": "max-age=3600"})

    @app.get("/api/health")
    def health():
        return {"ok": True, "version": __version__}

    @app.get("/api/models")
    def models():
        entries = registry.entries()
        return {
            "default": registry.default.id,
            "models": [e.info() for e in entries],
            "limits": limits.as_dict(),
        }

    @app.get("/api/models/{model_id}")
    def model_info(model_id: str):
        return registry.get(model_id).info()

    @app.post("/api/sample")
    def sample(body: SampleIn):
        entry = registry.get(body.model)
        return service.sample(entry, limits, body.n, body.temperature, body.seed, body.length)

    @app.post("/api/interpolate")
    def interpolate(body: InterpolateIn):
        entry = registry.get(body.model)
        return service.interpolate(
            entry,
            limits,
            body.start.model_dump(),
            body.end.model_dump(),
            body.steps,
            body.method,
            body.temperature,
            body.seed,
        )

    @app.post("/api/encode")
    def encode(body: EncodeIn):
        entry = registry.get(body.model)
        return service.encode(entry, limits, [c.model_dump() for c in body.clips])

    @app.post("/api/blend")
    def blend(body: BlendIn):
        entry = registry.get(body.model)
        return service.blend(
            entry, limits, body.corners, body.x, body.y, body.temperature, body.seed
        )

    @app.post("/api/attributes")
    def attributes(body: AttributesIn):
        entry = registry.get(body.model)
        return service.attributes(
            entry, limits, body.clip.model_dump(), body.amounts, body.temperature, body.seed
        )

    @app.post("/api/upload")
    async def upload(
        file: Annotated[UploadFile, File()], model: Annotated[str | None, Form()] = None
    ):
        entry = registry.get(model)
        data = await file.read(limits.max_upload_bytes + 1)
        return await run_in_threadpool(
            service.upload_windows, entry, limits, file.filename or "", data
        )

    @app.post("/api/midi")
    def midi(clip: ClipOut):
        name, data = service.midi_file(limits, clip.model_dump())
        disposition = f'attachment; filename="{name}"'
        return Response(data, media_type="audio/midi", headers={"Content-Disposition": disposition})

    @app.post("/api/export")
    def export(body: ExportIn):
        data = service.export_zip(limits, [c.model_dump() for c in body.clips])
        disposition = 'attachment; filename="musicvae-shelf.zip"'
        return Response(
            data, media_type="application/zip", headers={"Content-Disposition": disposition}
        )

    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes)
    return app
