"""``python -m apiserver.http``: serve the Kubernetes HTTP API in front of an apiserver."""

from __future__ import annotations

import asyncio
import json
import signal
import ssl
from http import HTTPStatus
from pathlib import Path

import click
from aiohttp import web, web_protocol

from apiserver.http.app import HttpConfig, create_app
from kemu import log
from kemu.api import errors
from kemu.client import DEFAULT_SERVER

__all__ = ["main", "parse_listen", "serve"]


def parse_listen(listen: str) -> tuple[str, int]:
    """``("127.0.0.1", 6443)`` from ``127.0.0.1:6443`` (``[::1]:6443`` for IPv6).

    Raises ``ValueError`` with a clear message on anything else.
    """
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--listen must be HOST:PORT, not {listen!r}")
    return host.strip("[]"), int(port)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class _StatusRequestHandler(web_protocol.RequestHandler):
    """aiohttp's connection handler, answering the errors it finds itself (a
    request line or header it cannot parse, a body over the limit) with a
    Kubernetes ``Status`` as JSON rather than aiohttp's plain text, as every
    other error of the front door is answered."""

    def handle_error(
        self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        super().handle_error(request, status, exc, message)  # aiohttp's logging and its "already sent" check
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Unknown"
        text = (message or phrase).strip()[:1024]
        body = errors.status_dict(status, phrase.replace(" ", ""), text)  # "Bad Request" -> BadRequest
        response = web.Response(status=status, body=json.dumps(body).encode(), content_type="application/json")
        response.force_close()
        return response


class _StatusServer(web.Server):
    def __call__(self) -> web_protocol.RequestHandler:
        return _StatusRequestHandler(self, loop=self._loop, **self._kwargs)


class _StatusAppRunner(web.AppRunner):
    """An ``AppRunner`` whose connections use :class:`_StatusRequestHandler`."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _StatusServer
        return server


async def serve(config: HttpConfig, host: str, port: int, ssl_context: ssl.SSLContext | None = None) -> None:
    """Serve until SIGTERM or SIGINT, then end open watches and stop."""
    logger = log.get_logger()
    app = create_app(config)
    runner = _StatusAppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        site = web.TCPSite(runner, host, port, ssl_context=ssl_context, reuse_address=True)
        await site.start()
        scheme = "https" if ssl_context else "http"
        bound_host, bound_port = runner.addresses[0][:2]  # the real port when --listen asked for :0
        url = f"{scheme}://{_url_host(bound_host)}:{bound_port}"
        logger.info("http front door serving", url=url, apiserver=config.server,
                    authentication="token" if config.token else "none")
        await stop.wait()
        logger.info("stopping")
    finally:
        await runner.cleanup()


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option("--server", default=DEFAULT_SERVER, help="The apiserver's request address (tcp:// or ipc://).")
@click.option("--listen", default="127.0.0.1:6443", help="HOST:PORT to serve HTTP(S) on.")
@click.option("--token", default=None, envvar="KEMU_HTTP_TOKEN",
              help="Bearer token clients must send (none: no authentication).")
@click.option("--token-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="File holding the bearer token (kept off the command line, which any user can read).")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="PEM certificate: serve HTTPS.")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="PEM private key of --tls-cert.")
@click.option("--advertise-address", default=None, help="HOST:PORT clients reach this server at (default: --listen).")
@click.option("--request-timeout", type=float, default=10.0, help="Seconds a call to the apiserver may take.")
@click.option("--workers", type=int, default=16, help="Threads making calls to the apiserver.")
@click.option("--min-request-timeout", type=float, default=1800.0,
              help="A watch without timeoutSeconds ends after a random 1-2x this many seconds.")
@click.option("--bookmark-interval", type=float, default=15.0,
              help="Seconds of quiet before a watch that allows bookmarks gets one.")
@click.option("--default-watch-cache-size", type=click.IntRange(min=0), default=5_000,
              help="Recent changes per kind a watch resumes from without asking the apiserver (0: none).")
@click.option("--metric-resolution", type=float, default=5.0,
              help="Seconds a scrape of the kubelets serves metrics.k8s.io (kubectl top) before the next.")
@click.option("--log-level", type=click.Choice(log.LEVELS), default="info")
def main(
    server: str,
    listen: str,
    token: str | None,
    token_file: Path | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    advertise_address: str | None,
    request_timeout: float,
    workers: int,
    min_request_timeout: float,
    bookmark_interval: float,
    default_watch_cache_size: int,
    metric_resolution: float,
    log_level: str,
) -> None:
    """Serve the Kubernetes HTTP API (kubectl, client libraries) for a kemu apiserver."""
    log.configure("apiserver-http", level=log_level)
    try:
        host, port = parse_listen(listen)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--listen") from None
    if token_file is not None:
        if token:
            raise click.UsageError("--token and --token-file are exclusive")
        token = token_file.read_text().strip() or None
    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key go together")
    ssl_context = None
    if tls_cert is not None and tls_key is not None:
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(tls_cert, tls_key)
    config = HttpConfig(
        server=server,
        token=token or None,
        request_timeout=request_timeout,
        workers=workers,
        min_request_timeout=min_request_timeout,
        bookmark_interval=bookmark_interval,
        advertise_address=advertise_address or listen,
        metric_resolution=metric_resolution,
        watch_cache_size=default_watch_cache_size,
    )
    asyncio.run(serve(config, host, port, ssl_context))


if __name__ == "__main__":
    main()
