"""The pool snapshot endpoint for FastAPI/Starlette apps, JSON and Prometheus text.

Several uvicorn/gunicorn workers: each worker publishes its snapshot to ``<runtime_dir>/<pid>.json``
(every second, and on each request it serves); the endpoint answers with every worker's fresh
snapshot, whichever worker receives the request. Access: loopback clients, or
``Authorization: Bearer <token>`` when a token is configured.

No ``from __future__ import annotations``: FastAPI reads the endpoint signatures at runtime.
"""

import hmac
import json
import os
import stat
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from dbops.pool.instrument import all_stats, current_site

FRESH_SECONDS = 10.0


def runtime_dir() -> Path:
    """The private directory this service's workers share: ``$DBOPS_RUNTIME_DIR``, else
    ``$XDG_RUNTIME_DIR/dbops-pool-<service>``, else ``<tmp>/dbops-pool-<uid>-<service>``, where the
    service is the workers' parent (gunicorn/uvicorn master), or this process when its parent is
    PID 1. Created 0700; refused unless it is a real directory owned by this user and closed to others."""
    service = os.getppid() if os.getppid() != 1 else os.getpid()
    explicit = os.environ.get("DBOPS_RUNTIME_DIR")
    if explicit:
        path = Path(explicit)
    elif os.environ.get("XDG_RUNTIME_DIR"):
        path = Path(os.environ["XDG_RUNTIME_DIR"]) / f"dbops-pool-{service}"
    else:
        path = Path(tempfile.gettempdir()) / f"dbops-pool-{os.getuid()}-{service}"
    try:
        path.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        pass
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise PermissionError(
            f"dbops pool: refusing the snapshot directory {path}: it must be a directory (not a link) owned by "
            f"uid {os.getuid()} and closed to others (mode 0700); it is "
            f"{'a directory' if stat.S_ISDIR(info.st_mode) else 'not a directory'} owned by uid {info.st_uid} "
            f"with mode {stat.S_IMODE(info.st_mode):o}. Remove it, or set DBOPS_RUNTIME_DIR to a private directory.")
    return path


def worker_snapshot() -> dict[str, Any]:
    return {"pid": os.getpid(), "taken_at": time.time(), "pools": [s.snapshot() for s in all_stats()]}


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def _read_private(path: Path) -> str:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd) as fh:
        if os.fstat(fh.fileno()).st_uid != os.getuid():
            raise PermissionError(f"{path} is not ours")
        return fh.read()


def publish(directory: Path | None = None) -> dict[str, Any]:
    snap = worker_snapshot()
    directory = directory or runtime_dir()
    tmp = directory / f".{snap['pid']}.json.tmp"
    _write_private(tmp, json.dumps(snap))
    tmp.replace(directory / f"{snap['pid']}.json")  # atomic: readers never see half a file
    return snap


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, someone else's
    return True


def withdraw(directory: Path | None = None) -> None:
    """Remove this worker's snapshot (at shutdown), and the directory once no worker is left."""
    try:
        directory = directory or runtime_dir()
    except OSError:
        return
    for name in (f"{os.getpid()}.json", f".{os.getpid()}.json.tmp"):
        try:
            (directory / name).unlink()
        except FileNotFoundError:
            pass
    try:
        directory.rmdir()  # only when empty
    except OSError:
        pass


def start_publisher(interval: float = 1.0) -> threading.Thread:
    """Publish this worker's snapshot every ``interval`` seconds (daemon thread); withdrawn at exit."""
    import atexit

    def loop() -> None:
        while True:
            try:
                publish()
            except OSError:
                pass
            time.sleep(interval)

    atexit.register(withdraw)
    thread = threading.Thread(target=loop, name="dbops-pool-publisher", daemon=True)
    thread.start()
    return thread


def aggregate(directory: Path | None = None) -> dict[str, Any]:
    own = publish(directory)
    directory = directory or runtime_dir()
    workers = {own["pid"]: own}
    now = time.time()
    for path in directory.glob("*.json"):
        try:
            snap = json.loads(_read_private(path))
            pid = int(snap["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if not pid_alive(pid):  # a dead worker's last snapshot is not news: prune it
            try:
                path.unlink()
            except OSError:
                pass
            continue
        if now - snap.get("taken_at", 0) <= FRESH_SECONDS:
            workers.setdefault(pid, snap)
    return {"taken_at": now, "served_by": own["pid"], "workers": sorted(workers.values(), key=lambda w: w["pid"])}


def prometheus_text(data: dict[str, Any]) -> bytes:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

    class Collector:
        def collect(self) -> Any:
            labels = ["pool", "worker_pid"]
            gauges = {k: GaugeMetricFamily(f"dbops_pool_{k}", f"SQLAlchemy pool {k.replace('_', ' ')}", labels=labels)
                      for k in ("capacity", "checked_out", "overflow_in_use", "waiting")}
            counters = {k: CounterMetricFamily(f"dbops_pool_{k}", f"SQLAlchemy pool {k}", labels=labels)
                        for k in ("checkouts", "checkins", "timeouts")}
            hist = HistogramMetricFamily("dbops_pool_checkout_wait_seconds", "Time waiting for a pooled connection",
                                         labels=labels)
            for worker in data["workers"]:
                for p in worker["pools"]:
                    lv = [p["name"], str(worker["pid"])]
                    for k, g in gauges.items():
                        g.add_metric(lv, p[k])
                    for k, c in counters.items():
                        c.add_metric(lv, p[k])
                    cumulative, buckets = 0, []
                    for bound, count in zip(p["wait"]["buckets_s"], p["wait"]["histogram"], strict=True):
                        cumulative += count
                        buckets.append((str(bound) if bound != "+Inf" else "+Inf", cumulative))
                    hist.add_metric(lv, buckets, sum_value=p["wait"]["avg_ms"] * p["wait"]["count"] / 1000)
            yield from gauges.values()
            yield from counters.values()
            yield hist

    registry = CollectorRegistry()
    registry.register(Collector())
    return generate_latest(registry)


def _allowed(request: Any, token: str | None) -> bool:
    if token:
        given = request.headers.get("authorization", "")
        return hmac.compare_digest(given, f"Bearer {token}")
    host = request.client.host if request.client else ""
    return host in ("127.0.0.1", "::1", "localhost", "testclient")


def pool_router(*, token: str | None = None, path: str = "/_dbops/pool", directory: Path | None = None) -> Any:
    """A FastAPI router: ``GET {path}`` (JSON, or ``?format=prometheus``) and ``GET {path}/ready``."""
    from fastapi import APIRouter, Request, Response
    from fastapi.responses import JSONResponse

    from dbops.pool.instrument import pool_ready

    router = APIRouter()

    @router.get(path, include_in_schema=False)
    async def snapshot(request: Request, format: str = "json") -> Response:
        if not _allowed(request, token):
            return JSONResponse({"detail": "pool snapshot: loopback clients or a bearer token only"}, status_code=403)
        data = aggregate(directory)
        if format == "prometheus":
            return Response(prometheus_text(data), media_type="text/plain; version=0.0.4")
        return JSONResponse(data)

    @router.get(f"{path}/ready", include_in_schema=False)
    async def ready() -> Response:
        ok = all(pool_ready(s) for s in all_stats())  # from counters: takes no connection
        return JSONResponse({"ready": ok}, status_code=200 if ok else 503)

    return router


class SiteMiddleware:
    """Pure ASGI middleware naming each request's checkouts "METHOD /path" (for `dbops pool`)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = current_site.set(f"{scope['method']} {scope['path']}")
        try:
            await self.app(scope, receive, send)
        finally:
            current_site.reset(token)
