"""`graft serve`: a FastAPI app for a saved model or an export, with a web page at ``/``.

``POST /predict`` takes image uploads (multipart ``file`` fields) for image models, or JSON
(``{"text": ...}``, ``{"texts": [...]}``, ``{"prompt": ...}``) for text models; ``GET /health``, ``GET /info``
and the OpenAPI docs at ``/docs``. Concurrent requests are grouped into small batches for the model.

Safety: loopback by default, and a bearer token is required to listen anywhere else; request bodies, image
pixels, text length and inputs per request are limited, a prediction has a timeout; the server never reads a
path from a request (an upload is decoded in memory, checked, and handed to the model as a private temporary
file); only a fixed set of numeric prediction options passes through.
"""
from __future__ import annotations

import asyncio
import hmac
import inspect
import io
import ipaddress
import json
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from graft.errors import GraftError

try:  # an optional dependency: `graft serve` says how to install it
    from fastapi import FastAPI, Request
    from fastapi.responses import FileResponse, JSONResponse
except ImportError:  # pragma: no cover - depends on the installed extras
    FastAPI = Request = FileResponse = JSONResponse = None

STATIC = Path(__file__).resolve().parent / "static"
# what a request may set, with bounds: nothing that names a file or folder
OPTIONS = {"top_k": (int, 1, 100), "min_score": (float, 0.0, 1.0), "max_new_tokens": (int, 1, 512),
           "temperature": (float, 0.0, 2.0), "top_p": (float, 0.0, 1.0)}
BATCH_WAIT_S = 0.005  # how long the first request of a batch waits for others


@dataclass
class Limits:
    max_body: int = 10_000_000
    max_pixels: int = 40_000_000
    max_text_chars: int = 20_000
    max_batch: int = 32
    timeout: float = 30.0


class RequestError(Exception):
    """A bad request: its status and a one-line reason."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


class MicroBatcher:
    """Runs the model on one thread, grouping requests that arrive together (same options) into one call."""

    def __init__(self, model, max_batch: int):
        self.model, self.max_batch = model, max_batch
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="graft-model")
        self._queue: asyncio.Queue | None = None
        self._worker: asyncio.Task | None = None
        self._loop = None
        self.batches = self.items = 0

    async def predict(self, inputs: list, options: dict) -> list[dict]:
        loop = asyncio.get_running_loop()
        if self._queue is None or self._loop is not loop:  # first request, or a new event loop (test clients)
            self._loop, self._queue = loop, asyncio.Queue()
            self._worker = asyncio.create_task(self._run())
        future = asyncio.get_running_loop().create_future()
        await self._queue.put((inputs, options, future))
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            first = await self._queue.get()
            group, size = [first], len(first[0])
            deadline = loop.time() + BATCH_WAIT_S
            while size < self.max_batch and (left := deadline - loop.time()) > 0:
                try:
                    item = await asyncio.wait_for(self._queue.get(), left)
                except asyncio.TimeoutError:
                    break
                if item[1] != first[1] or size + len(item[0]) > self.max_batch:
                    await self._run_group([item], loop)  # other options: a call of its own
                    continue
                group.append(item)
                size += len(item[0])
            await self._run_group(group, loop)

    async def _run_group(self, group: list, loop) -> None:
        inputs = [x for items, _, _ in group for x in items]
        try:
            results = await loop.run_in_executor(self._executor, lambda: self.model.predict(inputs, **group[0][1]))
        except Exception as exc:  # the model failed on these inputs: each waiting request gets the reason
            for _, _, future in group:
                if not future.done():
                    future.set_exception(exc)
            return
        self.batches, self.items = self.batches + 1, self.items + len(inputs)
        start = 0
        for items, _, future in group:
            if not future.done():
                future.set_result(results[start:start + len(items)])
            start += len(items)


def _options(raw: dict, accepted) -> dict:
    """The prediction options a request may set, checked and bounded; only those in ``accepted`` (the model's
    predict parameters) are passed on."""
    options = {}
    for name, value in raw.items():
        if name not in OPTIONS:
            raise RequestError(422, f"unknown option '{name}' (allowed: {', '.join(OPTIONS)})")
        kind, low, high = OPTIONS[name]
        try:
            number = kind(value)
        except (TypeError, ValueError):
            raise RequestError(422, f"option '{name}' must be a number") from None
        if not low <= number <= high:
            raise RequestError(422, f"option '{name}' must be between {low} and {high}")
        if name in accepted:
            options[name] = number
    return options


def _check_image(data: bytes, name: str, limits: Limits) -> str:
    """The upload's file suffix if it is an image within the pixel limit, else a 4xx."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:  # reads the header only
            width, height = image.size
            kind = image.format
            if width * height > limits.max_pixels:
                raise RequestError(413, f"{name}: {width}x{height} pixels is over the limit of {limits.max_pixels}")
            image.verify()
    except RequestError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise RequestError(415, f"{name}: not a readable image") from None
    return {"JPEG": ".jpg", "PNG": ".png", "BMP": ".bmp", "TIFF": ".tif", "WEBP": ".webp"}.get(kind, ".png")


class BodyLimit:
    """ASGI middleware: a request body over ``max_body`` bytes gets 413 (declared or streamed)."""

    def __init__(self, app, max_body: int):
        self.app, self.max_body = app, max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            return await _plain(send, 413, f"request body over the limit of {self.max_body} bytes")
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_body:
                raise RequestError(413, f"request body over the limit of {self.max_body} bytes")
            return message

        try:
            await self.app(scope, counted, send)
        except RequestError as exc:
            await _plain(send, exc.status, exc.reason)


async def _plain(send, status: int, reason: str) -> None:
    body = json.dumps({"error": reason}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def describe(model, source: str) -> dict:
    """What `GET /info` returns: the task, its labels, backbone, licence and the metrics saved with it."""
    export = getattr(model, "export_info", None)
    config = export["config"] if export else model.config()
    info = {"task": model.name, "modality": model.modality, "source": Path(source).name,
            **model.summarise_config(config), "strategy": config.get("strategy"),
            "graft_version": config.get("graft_version")}
    if export:
        info.update(export={k: export[k] for k in ("kind", "exporter", "quantize", "parity")},
                    licence=export.get("licence"))
    else:
        from graft.deploy.export import licence_of

        info["licence"] = licence_of(model)
        metrics = Path(source) / "metrics.json"
        if Path(source).is_dir() and metrics.is_file():
            from graft.bundle import read_json

            report = read_json(metrics)
            info["metrics"] = report.get("val_metrics") or {k: v for k, v in report.items() if not isinstance(v, list)}
    return info


def create_app(source: str | Path, limits: Limits | None = None, token: str | None = None, model=None):
    """The FastAPI application for the model at ``source`` (``model``: one already loaded from there)."""
    import graft
    from graft.tasks import load_model

    limits = limits or Limits()
    model = model if model is not None else load_model(str(source))
    model.prepare_for_serving()
    batcher = MicroBatcher(model, limits.max_batch)
    accepted = set(inspect.signature(model.predict).parameters)
    info = {**describe(model, str(source)), "limits": asdict(limits)}
    scratch = tempfile.TemporaryDirectory(prefix="graft-serve-")
    app = FastAPI(title=f"graft: {info['task']}", version=graft.__version__,
                  description="Predictions from a model trained with graft.")
    app.state.batcher, app.state.scratch = batcher, scratch
    app.add_middleware(BodyLimit, max_body=limits.max_body)

    def authorised(request: Request) -> None:
        if token is None:
            return
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise RequestError(401, "missing or wrong bearer token")

    @app.exception_handler(RequestError)
    async def request_error(request, exc: RequestError):
        return JSONResponse({"error": exc.reason}, status_code=exc.status)

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/health")
    async def health():
        return {"status": "ok", "task": info["task"], "batches": batcher.batches, "inputs": batcher.items}

    @app.get("/info")
    async def get_info(request: Request):
        authorised(request)
        return info

    @app.post("/predict")
    async def predict(request: Request):
        """Image models: multipart ``file`` field(s). Text models: JSON ``{"text"|"texts"|"prompt": ...}``.
        Options (``top_k``, ``min_score``, ``max_new_tokens``, ``temperature``, ``top_p``) as form or JSON fields."""
        authorised(request)
        kind = request.headers.get("content-type", "")
        if model.modality == "image":
            inputs, names, raw = await _image_inputs(request, kind, limits, Path(scratch.name))
        else:
            inputs, raw = await _text_inputs(request, kind, limits, model)
            names = None
        options = _options(raw, accepted)
        start = time.perf_counter()
        try:
            results = await asyncio.wait_for(batcher.predict(inputs, options), limits.timeout)
        except asyncio.TimeoutError:
            raise RequestError(504, f"the prediction took longer than {limits.timeout:g} s") from None
        except GraftError as exc:
            raise RequestError(422, str(exc)) from None
        finally:
            for item in inputs if names else []:
                Path(item).unlink(missing_ok=True)
        for result, name in zip(results, names or []):
            result["input"] = name  # the upload's name, never the server's temporary path
        return {"predictions": results, "seconds": round(time.perf_counter() - start, 4)}

    return app


async def _image_inputs(request, kind: str, limits: Limits, scratch: Path) -> tuple[list, list, dict]:
    if not kind.startswith("multipart/form-data"):
        raise RequestError(415, "send images as multipart/form-data 'file' fields")
    try:
        form = await request.form(max_files=limits.max_batch, max_fields=len(OPTIONS) + limits.max_batch)
    except RequestError:
        raise
    except Exception as exc:  # Starlette's multipart parser: too many parts, or a malformed body
        raise RequestError(400, f"unreadable form: {exc}") from None
    uploads = [v for k, v in form.multi_items() if k in ("file", "files") and hasattr(v, "read")]
    raw = {k: v for k, v in form.multi_items() if k not in ("file", "files")}
    if not uploads:
        raise RequestError(422, "no image: send it as a multipart 'file' field")
    paths, names = [], []
    for upload in uploads:
        data = await upload.read()
        name = Path(upload.filename or "upload").name[:200]
        suffix = _check_image(data, name, limits)
        handle, path = tempfile.mkstemp(suffix=suffix, dir=scratch)
        with os.fdopen(handle, "wb") as f:
            f.write(data)
        paths.append(path)
        names.append(name)
    return paths, names, raw


async def _text_inputs(request, kind: str, limits: Limits, model) -> tuple[list, dict]:
    if not kind.startswith("application/json"):
        raise RequestError(415, 'send texts as JSON: {"text": "..."} or {"texts": [...]}')
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        raise RequestError(400, "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise RequestError(422, 'the body must be a JSON object: {"text": "..."} or {"texts": [...]}')
    try:
        own = model.request_inputs(body)  # a task whose inputs are not single texts (QA: question + context)
    except GraftError as exc:
        raise RequestError(422, str(exc)) from None
    if own is not None:
        return _bounded(own, [t for item in own for t in item.values()], limits), body
    texts = body.pop("texts", None)
    single = next((body.pop(k) for k in ("text", "prompt") if k in body), None)
    texts = [single] if single is not None else texts
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t.strip() for t in texts):
        raise RequestError(422, 'give "text" (a non-empty string) or "texts" (a list of them)')
    return _bounded(texts, texts, limits), body


def _bounded(inputs: list, texts: list[str], limits: Limits) -> list:
    if len(inputs) > limits.max_batch:
        raise RequestError(413, f"{len(inputs)} inputs is over the limit of {limits.max_batch} per request")
    longest = max(len(t) for t in texts)
    if longest > limits.max_text_chars:
        raise RequestError(413, f"a text of {longest} characters is over the limit of {limits.max_text_chars}")
    return inputs


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(source: str, host: str = "127.0.0.1", port: int = 8000, workers: int = 1, token: str | None = None,
          limits: Limits | None = None) -> None:
    """Run the app on uvicorn (``workers`` > 1: that many processes, each with its own model)."""
    try:
        import uvicorn
        if FastAPI is None:
            raise ImportError("fastapi")
    except ImportError:
        raise GraftError("graft serve needs FastAPI and uvicorn: pip install 'graft[deploy]'") from None
    token = token or os.environ.get("GRAFT_TOKEN")
    if not is_loopback(host) and not token:
        raise GraftError(f"--host {host} listens beyond this machine: give --token (or set GRAFT_TOKEN) so that "
                         "requests must carry 'Authorization: Bearer TOKEN'")
    limits = limits or Limits()
    os.environ["GRAFT_SERVE_SPEC"] = json.dumps({"source": str(source), "token": token, "limits": asdict(limits)})
    print(f"graft serve: {source} on http://{host}:{port}/ (docs at /docs; Ctrl-C stops)", flush=True)
    if workers > 1:
        uvicorn.run("graft.deploy.server:app_from_environment", factory=True, host=host, port=port,
                    workers=workers, limit_concurrency=256, log_level="warning")
    else:
        uvicorn.run(app_from_environment(), host=host, port=port, limit_concurrency=256, log_level="warning")


def app_from_environment():
    """The app factory each uvicorn worker process calls (the settings travel in an environment variable)."""
    spec = json.loads(os.environ["GRAFT_SERVE_SPEC"])
    limits = Limits(**spec["limits"])
    return create_app(spec["source"], limits, spec["token"])
