#!/usr/bin/env python3
"""Record what a real client sends: a recording HTTP proxy in front of kemu.

How tests/unit/data/protobuf/*.bin were made::

    python scripts/capture_kubectl_bodies.py --upstream http://127.0.0.1:PORT \\
        --listen 127.0.0.1:8099 --out /tmp/capture &
    kubectl --server http://127.0.0.1:8099 create deployment ... (one command each)

Every request goes on to ``--upstream`` unchanged and its answer comes back
unchanged; each request with a body is written to ``--out`` as
``NNN-METHOD-<resource>.bin`` (the body's bytes) and ``.json`` (method, path,
query, the Content-Type and Accept headers). ``headers.log`` gets one line
per request (method, path, Content-Type, Accept), bodies or not.
Only loopback addresses are accepted for both ends.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import ClientSession, web

_HOP = {"host", "content-length", "transfer-encoding", "connection", "accept-encoding"}


def make_app(upstream: str, out: Path) -> web.Application:
    counter = itertools.count(1)
    out.mkdir(parents=True, exist_ok=True)
    session: dict[str, ClientSession] = {}

    async def proxy(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        n = next(counter)
        content_type = request.headers.get("Content-Type", "")
        accept = request.headers.get("Accept", "")
        with (out / "headers.log").open("a") as log:
            log.write(f"{n:03d} {request.method} {request.path_qs} Content-Type={content_type!r} Accept={accept!r}\n")
        if body:
            stem = f"{n:03d}-{request.method}-{request.path.rstrip('/').rsplit('/', 1)[-1]}"
            (out / f"{stem}.bin").write_bytes(body)
            (out / f"{stem}.json").write_text(json.dumps({
                "method": request.method, "path": request.path, "query": request.query_string,
                "content_type": content_type, "accept": accept,
            }, indent=2) + "\n")
        if "s" not in session:
            session["s"] = ClientSession(auto_decompress=False)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        async with session["s"].request(
            request.method, upstream + request.path_qs, headers=headers, data=body or None
        ) as answer:
            payload = await answer.read()
            kept = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP}
            return web.Response(body=payload, status=answer.status, headers=kept)

    async def close(_app: web.Application) -> None:
        if "s" in session:
            await session["s"].close()

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", proxy)
    app.on_cleanup.append(close)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream", required=True, help="the kemu front door, http://127.0.0.1:PORT")
    parser.add_argument("--listen", default="127.0.0.1:8099")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    if not host.startswith("127.") or not (urlsplit(args.upstream).hostname or "").startswith("127."):
        raise SystemExit("loopback addresses only")
    web.run_app(make_app(args.upstream.rstrip("/"), args.out), host=host, port=int(port), print=None)


if __name__ == "__main__":
    main()
