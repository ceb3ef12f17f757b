"""Built-in HTTP servers: the main process of a container of a server image.

A container of ``nginx``, ``httpd``, ``kubernetes-bootcamp``, ``hello-app``,
``kemu/echo``, ``agnhost`` ... runs this module as its main process::

    python kubelet/servers.py --server nginx --bind 127.244.1.5 --port 80 \\
        --pod default/web-0 --node node-1 --image docker.io/library/nginx:1.25 \\
        --data '{"version": "1.25.5"}' --html-root /var/lib/kemu/.../html -- nginx -g 'daemon off;'

(``python -m kubelet.servers`` works too; the runtime runs the file by path
with ``-I -S`` so that nothing but the standard library is imported and the
server listens within a few tens of milliseconds.)

Design
------
- Each server is an *app*: a pure function ``(ServerContext, Request) ->
  Response`` that answers the way the real image does where that is simple
  (nginx's welcome, 404 and 405 pages and ``Server: nginx/<version>``;
  httpd's "It works!"; the bootcamp's ``Hello Kubernetes bootcamp! | Running
  on: <pod> | v=1``; hello-app's ``Hello, world!`` ...). One generic handler
  does the HTTP I/O and adds ``X-Kemu-Pod``, ``X-Kemu-Node`` and
  ``X-Kemu-Image`` to every response, so a rolling update and load balancing
  are visible through a Service.
- The listener binds the pod IP (an address in 127.0.0.0/8), so two pods on
  one node can both listen on :80.
- Concurrency: ``ThreadingHTTPServer`` serves each connection in a daemon
  thread; ``serve_forever`` runs in a thread of its own; the main thread only
  waits for a stop signal. Signal handlers just record the signal; the main
  thread acts on it.
- Stopping follows the real programs: nginx exits at once on SIGTERM/SIGINT
  ("fast shutdown") and finishes in-flight requests on SIGQUIT ("graceful
  shutdown", the nginx image's STOPSIGNAL); httpd stops on SIGTERM and
  gracefully on SIGWINCH. Every server exits 0 when stopped by a signal.
- Access logs go to stdout and notices to stderr, in each program's format,
  flushed per line, so ``kubectl logs`` shows what the real image would.

Environment honoured where the real image reads it: ``HOSTNAME`` (the pod
name), ``PORT`` (hello-app, echo-server, kemu/echo).
"""

from __future__ import annotations

import argparse
import json
import os
import posixpath
import signal
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import MappingProxyType
from typing import Any

__all__ = [
    "Request",
    "Response",
    "ServerContext",
    "SERVERS",
    "listen_port",
    "main",
]

_MAX_BODY = 1 << 20


@dataclass(frozen=True, slots=True)
class ServerContext:
    """Everything a server app knows about the container it runs in."""

    server: str
    """The built-in server name (``nginx``)."""
    bind: str
    """The pod IP the listener binds."""
    port: int | None
    """The listening port; ``None`` for a server that does not listen (agnhost pause)."""
    namespace: str
    """The pod's namespace."""
    pod: str
    """The pod's name (also the container's ``HOSTNAME``)."""
    node: str
    """The node the pod runs on."""
    image: str
    """The image reference, as reported in ``X-Kemu-Image``."""
    data: Mapping[str, Any] = field(hash=False)
    """Per-image data from the catalog (``version`` ...)."""
    html_root: str | None = None
    """Host directory served as the document root, when a volume is mounted there."""
    args: tuple[str, ...] = ()
    """The container's effective arguments (agnhost's subcommand, http-echo's ``-text``)."""
    started: float = 0.0
    """Start time (``time.time()``), for uptime figures."""

    @property
    def hostname(self) -> str:
        return os.environ.get("HOSTNAME") or self.pod

    @property
    def version(self) -> str:
        return str(self.data.get("version", ""))


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request, as an app sees it."""

    method: str
    target: str
    """The request target as sent (``/path?query``)."""
    version: str
    """``HTTP/1.1``."""
    headers: tuple[tuple[str, str], ...]
    body: bytes
    client: tuple[str, int]

    @property
    def path(self) -> str:
        return urllib.parse.urlsplit(self.target).path or "/"

    @property
    def query(self) -> dict[str, list[str]]:
        return urllib.parse.parse_qs(urllib.parse.urlsplit(self.target).query)

    def header(self, name: str, default: str = "") -> str:
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), default)


@dataclass(frozen=True, slots=True)
class Response:
    """An app's answer. ``exit_code`` makes the server exit after answering
    (agnhost's ``/exit``)."""

    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()
    exit_code: int | None = None


App = Callable[[ServerContext, Request], Response]


# --------------------------------------------------------------------- helpers


def _now_common_log() -> str:
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _err(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


_CONTENT_TYPES = MappingProxyType(
    {
        ".html": "text/html", ".htm": "text/html", ".css": "text/css", ".js": "application/javascript",
        ".json": "application/json", ".txt": "text/plain", ".xml": "text/xml", ".svg": "image/svg+xml",
        ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
        ".ico": "image/x-icon", ".pdf": "application/pdf", ".wasm": "application/wasm",
    }
)  # fmt: skip


def _static_file(root: str, url_path: str) -> tuple[str, str | None]:
    """Map ``url_path`` into ``root``: (kind, host path) where kind is
    ``file``, ``dir``, ``missing`` or ``forbidden``."""
    clean = posixpath.normpath(urllib.parse.unquote(url_path))
    if clean.startswith(".."):
        return "forbidden", None
    host = os.path.join(root, clean.lstrip("/"))
    if os.path.isdir(host):
        return "dir", host
    if os.path.isfile(host):
        return ("file", host) if os.access(host, os.R_OK) else ("forbidden", None)
    return "missing", None


def _file_response(path: str) -> Response:
    st = os.stat(path)
    with open(path, "rb") as f:
        body = f.read()
    etag = f'"{int(st.st_mtime):x}-{st.st_size:x}"'
    headers = (
        ("Last-Modified", formatdate(st.st_mtime, usegmt=True)),
        ("ETag", etag),
        ("Accept-Ranges", "bytes"),
    )
    ctype = _CONTENT_TYPES.get(os.path.splitext(path)[1].lower(), "application/octet-stream")
    return Response(200, body, ctype, headers)


def _serve_root(
    ctx: ServerContext, req: Request, *, index: Callable[[], Response], error: Callable[[int], Response]
) -> Response:
    """Static serving as nginx and httpd do it: directory -> index file,
    directory without trailing slash -> 301, no index -> 403."""
    if ctx.html_root is None:
        return index() if req.path in ("/", "/index.html") else error(404)
    kind, host = _static_file(ctx.html_root, req.path)
    if kind == "file" and host:
        return _file_response(host)
    if kind == "dir" and host:
        if not req.path.endswith("/"):
            location = f"http://{req.header('Host', ctx.bind)}{req.path}/"
            return Response(301, error(301).body, "text/html", (("Location", location),))
        for name in ("index.html", "index.htm"):
            candidate = os.path.join(host, name)
            if os.path.isfile(candidate):
                return _file_response(candidate) if os.access(candidate, os.R_OK) else error(403)
        return error(403)
    return error(403 if kind == "forbidden" else 404)


# ----------------------------------------------------------------------- nginx

_NGINX_WELCOME = """<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p>For online documentation and support please refer to
<a href="http://nginx.org/">nginx.org</a>.<br/>
Commercial support is available at
<a href="http://nginx.com/">nginx.com</a>.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
"""

_STATUS_TEXT = MappingProxyType(
    {301: "Moved Permanently", 403: "Forbidden", 404: "Not Found", 405: "Not Allowed", 500: "Internal Server Error"}
)


def _nginx_error(ctx: ServerContext, status: int) -> Response:
    title = f"{status} {_STATUS_TEXT.get(status, 'Error')}"
    body = (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
        f"<hr><center>nginx/{ctx.version}</center>\r\n</body>\r\n</html>\r\n"
    )
    return Response(status, body.encode(), "text/html")


def nginx_app(ctx: ServerContext, req: Request) -> Response:
    """nginx with the image's default.conf: static files, welcome page."""
    if req.method not in ("GET", "HEAD"):
        return _nginx_error(ctx, 405)
    return _serve_root(
        ctx,
        req,
        index=lambda: Response(200, _NGINX_WELCOME.encode(), "text/html"),
        error=lambda status: _nginx_error(ctx, status),
    )


def _nginx_access_log(ctx: ServerContext, req: Request, resp: Response, size: int) -> None:
    referer, agent = req.header("Referer", "-"), req.header("User-Agent", "-")
    request_line = f"{req.method} {req.target} {req.version}"
    _out(f'{req.client[0]} - - [{_now_common_log()}] "{request_line}" {resp.status} {size} "{referer}" "{agent}" "-"')


def _nginx_notice(message: str) -> None:
    _err(f"{time.strftime('%Y/%m/%d %H:%M:%S', time.gmtime())} [notice] 1#1: {message}")


def _nginx_start(ctx: ServerContext) -> None:
    _err("/docker-entrypoint.sh: Configuration complete; ready for start up")
    _nginx_notice('using the "epoll" event method')
    _nginx_notice(f"nginx/{ctx.version}")
    _nginx_notice("start worker processes")


# ----------------------------------------------------------------------- httpd

_HTTPD_INDEX = "<html><body><h1>It works!</h1></body></html>\n"


def _httpd_error(ctx: ServerContext, status: int) -> Response:
    texts = {
        301: ("Moved Permanently", "The document has moved."),
        403: ("Forbidden", "You don't have permission to access this resource."),
        404: ("Not Found", "The requested URL was not found on this server."),
        405: ("Method Not Allowed", "The requested method is not allowed for this URL."),
    }
    title, text = texts.get(status, ("Error", "An error occurred."))
    body = (
        '<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html><head>\n'
        f"<title>{status} {title}</title>\n</head><body>\n<h1>{title}</h1>\n<p>{text}</p>\n</body></html>\n"
    )
    return Response(status, body.encode(), "text/html; charset=iso-8859-1")


def httpd_app(ctx: ServerContext, req: Request) -> Response:
    """Apache httpd with the image's default config: "It works!"."""
    if req.method not in ("GET", "HEAD", "POST", "OPTIONS"):
        return _httpd_error(ctx, 405)
    return _serve_root(
        ctx,
        req,
        index=lambda: Response(200, _HTTPD_INDEX.encode(), "text/html"),
        error=lambda status: _httpd_error(ctx, status),
    )


def _httpd_access_log(ctx: ServerContext, req: Request, resp: Response, size: int) -> None:
    _out(f'{req.client[0]} - - [{_now_common_log()}] "{req.method} {req.target} {req.version}" {resp.status} {size}')


def _httpd_start(ctx: ServerContext) -> None:
    stamp = time.strftime("%a %b %d %H:%M:%S.000000 %Y", time.gmtime())
    _err(f"[{stamp}] [mpm_event:notice] [pid 1:tid 1] AH00489: Apache/{ctx.version} (Unix) configured "
         "-- resuming normal operations")  # fmt: skip


# ------------------------------------------------------------------ tutorials


class _Counter:
    """A thread-safe request counter (the bootcamp prints a running total)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = 0

    def next(self) -> int:
        with self._lock:
            self._value += 1
            return self._value


def bootcamp_app(ctx: ServerContext, req: Request) -> Response:
    """The Kubernetes Basics tutorial's node.js server (server.js)."""
    body = f"Hello Kubernetes bootcamp! | Running on: {ctx.hostname} | v={ctx.version}\n"
    return Response(200, body.encode(), "text/plain")


def _bootcamp_log(counter: _Counter) -> Callable[[ServerContext, Request, Response, int], None]:
    def log(ctx: ServerContext, req: Request, resp: Response, size: int) -> None:
        uptime = round(time.time() - ctx.started, 3)
        _out(f"Running On: {ctx.hostname} | Total Requests: {counter.next()} | App Uptime: {uptime} seconds "
             f"| Log Time: {time.strftime('%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)', time.gmtime())}")  # fmt: skip

    return log


def _bootcamp_start(ctx: ServerContext) -> None:
    started = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(ctx.started))
    _out(f"Kubernetes Bootcamp App Started At: {started} | Running On:  {ctx.hostname} \n")


def hello_app(ctx: ServerContext, req: Request) -> Response:
    """Google's hello-app (GKE tutorials)."""
    body = f"Hello, world!\nVersion: {ctx.version}\nHostname: {ctx.hostname}\n"
    return Response(200, body.encode(), "text/plain; charset=utf-8")


def _go_log(message: str) -> None:
    _err(f"{time.strftime('%Y/%m/%d %H:%M:%S', time.gmtime())} {message}")


def _hello_log(ctx: ServerContext, req: Request, resp: Response, size: int) -> None:
    _go_log(f"Serving request: {req.path}")


# ---------------------------------------------------------------- echo family


def echo_app(ctx: ServerContext, req: Request) -> Response:
    """kemu's echo image: the request, the pod and the node as JSON."""
    doc = {
        "method": req.method,
        "path": req.path,
        "query": {k: v if len(v) > 1 else v[0] for k, v in req.query.items()},
        "headers": dict(req.headers),
        "body": req.body.decode("utf-8", "replace"),
        "client": f"{req.client[0]}:{req.client[1]}",
        "pod": ctx.pod,
        "namespace": ctx.namespace,
        "podIP": ctx.bind,
        "node": ctx.node,
        "hostname": ctx.hostname,
        "image": ctx.image,
    }
    return Response(200, (json.dumps(doc, indent=2) + "\n").encode(), "application/json")


def _echo_log(ctx: ServerContext, req: Request, resp: Response, size: int) -> None:
    _out(json.dumps({"method": req.method, "path": req.path, "status": resp.status, "client": req.client[0]}))


def echoserver_app(ctx: ServerContext, req: Request) -> Response:
    """registry.k8s.io/echoserver (nginx + lua): CLIENT VALUES / HEADERS RECEIVED."""
    query = urllib.parse.urlsplit(req.target).query or "nil"
    host = req.header("Host", f"{ctx.bind}:{ctx.port}")
    lines = [
        "", "", f"Hostname: {ctx.hostname}", "",
        "Pod Information:", "\t-no pod information available-", "",
        "Server values:", "\tserver_version=nginx: 1.13.3 - lua: 10008", "",
        "Request Information:", f"\tclient_address={req.client[0]}", f"\tmethod={req.method}",
        f"\treal path={req.path}", f"\tquery={query}", f"\trequest_version={req.version.split('/')[-1]}",
        "\trequest_scheme=http", f"\trequest_uri=http://{host}{req.target}", "",
        "Request Headers:",
        *[f"\t{k.lower()}={v}" for k, v in sorted(req.headers, key=lambda kv: kv[0].lower())],
        "", "Request Body:", f"\t{req.body.decode('utf-8', 'replace') or '-no body in request-'}", "",
    ]  # fmt: skip
    return Response(200, "\n".join(lines).encode(), "text/plain")


def echo_server_app(ctx: ServerContext, req: Request) -> Response:
    """jmalloc/echo-server (kicbase/echo-server in minikube's hello-minikube)."""
    lines = [f"Request served by {ctx.hostname}", "", f"{req.version} {req.method} {req.target}", ""]
    lines += [f"{k}: {v}" for k, v in req.headers]
    text = "\n".join(lines) + "\n"
    if req.body:
        text += "\n" + req.body.decode("utf-8", "replace")
    return Response(200, text.encode(), "text/plain")


def _flag(args: Sequence[str], names: Sequence[str], default: str | None = None) -> str | None:
    """Go ``flag``-style lookup: ``-name=value``, ``--name=value``, ``-name value``."""
    for i, arg in enumerate(args):
        key, eq, value = arg.lstrip("-").partition("=")
        if not arg.startswith("-") or key not in names:
            continue
        if eq:
            return value
        if i + 1 < len(args):
            return args[i + 1]
    return default


def http_echo_app(ctx: ServerContext, req: Request) -> Response:
    """hashicorp/http-echo: answers ``-text`` with ``-status-code``."""
    text = _flag(ctx.args, ["text"], "") or ""
    status = int(_flag(ctx.args, ["status-code"], "200") or 200)
    headers = (("X-App-Name", "http-echo"), ("X-App-Version", "1.0.0"))
    return Response(status, (text + "\n").encode(), "text/plain; charset=utf-8", headers)


def _http_echo_log(ctx: ServerContext, req: Request, resp: Response, size: int) -> None:
    _go_log(f'{req.header("Host")} {req.client[0]} "{req.method} {req.target} {req.version} {resp.status}" '
            f'{size} "{req.header("User-Agent", "-")}"')  # fmt: skip


# ---------------------------------------------------------------------- agnhost


def _agnhost_subcommand(args: Sequence[str]) -> str:
    return args[0] if args else ""


def agnhost_app(ctx: ServerContext, req: Request) -> Response:
    """agnhost ``netexec`` (a subset) and ``serve-hostname``."""
    if _agnhost_subcommand(ctx.args) == "serve-hostname":
        return Response(200, ctx.hostname.encode())
    query = req.query
    first = {k: v[0] for k, v in query.items()}
    routes: dict[str, Callable[[], Response]] = {
        "/": lambda: Response(200, f"NOW: {time.strftime('%Y-%m-%d %H:%M:%S +0000 UTC', time.gmtime())}".encode()),
        "/hostname": lambda: Response(200, ctx.hostname.encode()),
        "/echo": lambda: Response(200, first.get("msg", "").encode()),
        "/clientip": lambda: Response(200, f"{req.client[0]}:{req.client[1]}".encode()),
        "/header": lambda: Response(200, req.header(first.get("key", "")).encode()),
        "/healthz": lambda: Response(200, b"ok"),
        "/exit": lambda: Response(200, b"", exit_code=int(first.get("code", "0") or 0)),
    }
    route = routes.get(req.path)
    return route() if route else Response(404, b"404 page not found\n")


def _agnhost_log(ctx: ServerContext, req: Request, resp: Response, size: int) -> None:
    stamp = time.strftime("%m%d %H:%M:%S.000000", time.gmtime())
    _err(f"I{stamp}       1 log.go:195] GET {req.target}")


# -------------------------------------------------------------------- registry


@dataclass(frozen=True, slots=True)
class _Server:
    """How one built-in server behaves."""

    app: App
    server_header: Callable[[ServerContext], str | None]
    access_log: Callable[[ServerContext, Request, Response, int], None] | None = None
    on_start: Callable[[ServerContext], None] | None = None
    graceful_signals: tuple[int, ...] = ()
    fast_signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)


def _no_header(ctx: ServerContext) -> str | None:
    return None


def _make_servers() -> Mapping[str, _Server]:
    return MappingProxyType(
        {
            "nginx": _Server(
                nginx_app,
                lambda ctx: f"nginx/{ctx.version}",
                _nginx_access_log,
                _nginx_start,
                graceful_signals=(signal.SIGQUIT,),
            ),
            "httpd": _Server(
                httpd_app,
                lambda ctx: f"Apache/{ctx.version} (Unix)",
                _httpd_access_log,
                _httpd_start,
                graceful_signals=(signal.SIGWINCH,),
            ),
            "kubernetes-bootcamp": _Server(bootcamp_app, _no_header, None, _bootcamp_start),
            "hello-app": _Server(
                hello_app, _no_header, _hello_log, lambda ctx: _go_log(f"Server listening on port {ctx.port}")
            ),
            "echo": _Server(echo_app, lambda ctx: "kemu-echo", _echo_log),
            "echoserver": _Server(echoserver_app, lambda ctx: "echoserver"),
            "echo-server": _Server(
                echo_server_app, _no_header, None, lambda ctx: _out(f"Echo server listening on port {ctx.port}.")
            ),
            "http-echo": _Server(
                http_echo_app,
                _no_header,
                _http_echo_log,
                lambda ctx: _go_log(f"[INFO] server is listening on :{ctx.port}"),
            ),
            "agnhost": _Server(agnhost_app, _no_header, _agnhost_log),
            "pause": _Server(lambda ctx, req: Response(404), _no_header),
        }
    )


SERVERS: Mapping[str, _Server] = _make_servers()


# ------------------------------------------------------------ image files

_BOOTCAMP_SERVER_JS = """var http = require('http');
var requests = 0;
var podname = process.env.HOSTNAME;
var startTime;
var host;
var handleRequest = function(request, response) {
  response.setHeader('Content-Type', 'text/plain');
  response.writeHead(200);
  response.write("Hello Kubernetes bootcamp! | Running on: ");
  response.write(host);
  response.end(" | v=%(version)s\\n");
  console.log("Running On:", host, "| Total Requests:", ++requests, "| App Uptime:", (new Date() - startTime) / 1000, "seconds", "| Log Time:", new Date());
}
var www = http.createServer(handleRequest);
www.listen(8080, function () {
  startTime = new Date();
  host = process.env.HOSTNAME;
  console.log("Kubernetes Bootcamp App Started At:", startTime, "| Running On: ", host, "\\n");
});
"""  # noqa: E501 (the bootcamp image's server.js, verbatim)


def image_files(server: str | None, html_root: str | None, version: str) -> dict[str, str]:
    """The files a server image has where the real image has them (container
    path -> text), for a container with its own root file system: what the
    built-in server answers with, so ``cat`` inside the container and ``curl``
    from outside agree."""
    if server == "nginx" and html_root:
        return {f"{html_root}/index.html": _NGINX_WELCOME}
    if server == "httpd" and html_root:
        return {f"{html_root}/index.html": _HTTPD_INDEX}
    if server == "kubernetes-bootcamp":
        return {"/server.js": _BOOTCAMP_SERVER_JS % {"version": version}}
    return {}
"""The built-in servers by name (read-only)."""


def listen_port(
    server: str, default_port: int | None, args: Sequence[str], env: Mapping[str, str], port_env: str | None = None
) -> int | None:
    """The port ``server`` listens on, as the real program decides it.

    >>> listen_port("agnhost", 8080, ["netexec", "--http-port=9000"], {})
    9000
    >>> listen_port("hello-app", 8080, [], {"PORT": "9090"}, "PORT")
    9090

    ``None`` when the program listens on nothing (``agnhost pause``, ``pause``).
    Raises :class:`ValueError` for a port that is not a number in 1..65535.
    """
    if server == "pause":
        return None
    port: str | int | None = default_port
    if server == "agnhost":
        sub = _agnhost_subcommand(args)
        if sub == "pause":
            return None
        port = (_flag(args, ["port"], "9376") if sub == "serve-hostname"
                else _flag(args, ["http-port"], str(default_port or 8080)))
    elif server == "http-echo":
        port = (_flag(args, ["listen"], f":{default_port}") or "").rpartition(":")[2]
    elif port_env and env.get(port_env):
        port = env[port_env]
    if port is None:
        return None
    try:
        value = int(port)
    except ValueError:
        raise ValueError(f"invalid port {port!r}") from None
    if not 1 <= value <= 65535:
        raise ValueError(f"invalid port {value}: must be between 1 and 65535")
    return value


# ---------------------------------------------------------------------- serving


class _Handler(BaseHTTPRequestHandler):
    """Generic HTTP/1.1 I/O around an app; the server attributes carry the app."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    """TCP_NODELAY: the head and the body go out as two writes, and with Nagle a
    client that keeps its connection waits ~40 ms (delayed ACK) for the body."""
    server: _KemuHTTPServer

    def handle_one_request(self) -> None:
        self.server.enter()
        try:
            super().handle_one_request()
        finally:
            self.server.leave()

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, _MAX_BODY)) if length > 0 else b""
        req = Request(
            method=self.command,
            target=self.path,
            version=self.request_version,
            headers=tuple(self.headers.items()),
            body=body,
            client=(self.client_address[0], self.client_address[1]),
        )
        spec, ctx = self.server.spec, self.server.ctx
        try:
            resp = spec.app(ctx, req)
        except Exception as exc:  # noqa: BLE001 (an app bug must not kill the server)
            _err(f"kemu server error: {exc!r}")
            resp = Response(500, b"internal error\n")
        self._write(ctx, spec, req, resp)
        if resp.exit_code is not None:
            self.server.request_exit(resp.exit_code)

    def _write(self, ctx: ServerContext, spec: _Server, req: Request, resp: Response) -> None:
        self.send_response_only(resp.status)
        self.send_header("Date", formatdate(usegmt=True))
        server_header = spec.server_header(ctx)
        if server_header:
            self.send_header("Server", server_header)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(resp.body)))
        for name, value in resp.headers:
            self.send_header(name, value)
        self.send_header("X-Kemu-Pod", f"{ctx.namespace}/{ctx.pod}")
        self.send_header("X-Kemu-Node", ctx.node)
        self.send_header("X-Kemu-Image", ctx.image)
        self.end_headers()
        if req.method != "HEAD":
            self.wfile.write(resp.body)
        if spec.access_log is not None:
            spec.access_log(ctx, req, resp, len(resp.body))

    def __getattr__(self, name: str) -> Any:
        # BaseHTTPRequestHandler looks up do_<METHOD>; every method goes to the app.
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Access logs are written per server (see ``_Server.access_log``)."""


class _KemuHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that counts in-flight requests for graceful stops."""

    daemon_threads = True
    allow_reuse_address = True

    spec: _Server
    ctx: ServerContext

    def __init__(self, address: tuple[str, int], spec: _Server, ctx: ServerContext, stop: _Stop) -> None:
        self.spec, self.ctx, self._stop = spec, ctx, stop
        self._active = 0
        self._cond = threading.Condition()
        super().__init__(address, _Handler)

    def enter(self) -> None:
        with self._cond:
            self._active += 1

    def leave(self) -> None:
        with self._cond:
            self._active -= 1
            self._cond.notify_all()

    def wait_idle(self, timeout: float) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._active <= 0, timeout)

    def request_exit(self, code: int) -> None:
        self._stop.set("exit", code)


class _Stop:
    """What the main thread waits for: a stop signal or an app's exit request."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.mode = "fast"
        self.code = 0
        self.signum: int | None = None

    def set(self, mode: str, code: int = 0, signum: int | None = None) -> None:
        if not self._event.is_set():
            self.mode, self.code, self.signum = mode, code, signum
            self._event.set()

    def wait(self) -> None:
        while not self._event.wait(1.0):
            pass


def _install_signals(spec: _Server, stop: _Stop) -> None:
    for signum in spec.fast_signals:
        signal.signal(signum, lambda s, _f: stop.set("fast", 0, s))
    for signum in spec.graceful_signals:
        signal.signal(signum, lambda s, _f: stop.set("graceful", 0, s))


def _bind_failed(ctx: ServerContext, exc: OSError) -> int:
    if ctx.server == "nginx":
        _err(f"nginx: [emerg] bind() to {ctx.bind}:{ctx.port} failed ({exc.errno}: {exc.strerror})")
    else:
        _err(f"listen tcp {ctx.bind}:{ctx.port}: bind: {(exc.strerror or str(exc)).lower()}")
    return 1


def _log_stop(ctx: ServerContext, stop: _Stop) -> None:
    if ctx.server == "nginx" and stop.signum is not None:
        name = signal.Signals(stop.signum).name
        what = "shutting down" if stop.mode == "graceful" else "exiting"
        _nginx_notice(f"signal {stop.signum} ({name}) received, {what}")
        _nginx_notice("exit")


def serve(ctx: ServerContext) -> int:
    """Run ``ctx.server`` until a stop signal; the process exit code."""
    spec: _Server = SERVERS[ctx.server]
    stop = _Stop()
    _install_signals(spec, stop)
    httpd: _KemuHTTPServer | None = None
    if ctx.port is not None:
        try:
            httpd = _KemuHTTPServer((ctx.bind, ctx.port), spec, ctx, stop)
        except OSError as exc:
            return _bind_failed(ctx, exc)
        # A short poll interval bounds how long a graceful shutdown() waits.
        threading.Thread(target=httpd.serve_forever, args=(0.05,), name="serve", daemon=True).start()
    if spec.on_start is not None:
        spec.on_start(ctx)
    stop.wait()
    _log_stop(ctx, stop)
    if httpd is not None and stop.mode == "graceful":
        httpd.shutdown()
        httpd.server_close()
        httpd.wait_idle(timeout=30.0)
    return stop.code


def _parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="kubelet.servers", description="kemu's built-in image servers")
    parser.add_argument("--server", required=True, choices=sorted(SERVERS))
    parser.add_argument("--bind", default="127.0.0.1", help="the pod IP to listen on")
    parser.add_argument("--port", type=int, default=None, help="port (default: as the real image decides)")
    parser.add_argument("--default-port", type=int, default=None, help="the catalog's port for the image")
    parser.add_argument("--port-env", default=None, help="environment variable that overrides the port")
    parser.add_argument("--pod", default="default/pod", help="namespace/name of the pod")
    parser.add_argument("--node", default="", help="node name")
    parser.add_argument("--image", default="", help="image reference for X-Kemu-Image")
    parser.add_argument("--data", default="{}", help="per-image data as JSON")
    parser.add_argument("--html-root", default=None, help="host directory served as the document root")
    parser.add_argument("args", nargs="*", help="the container's arguments (after --)")
    return parser.parse_args(list(argv))


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    ns = _parse_args(sys.argv[1:] if argv is None else argv)
    namespace, _, pod = ns.pod.rpartition("/")
    args = tuple(ns.args)
    try:
        port = ns.port if ns.port is not None else listen_port(ns.server, ns.default_port, args, os.environ, ns.port_env)
    except ValueError as exc:
        _err(f"{ns.server}: {exc}")
        return 1
    if ns.server == "agnhost" and _agnhost_subcommand(args) not in ("", "netexec", "serve-hostname", "pause"):
        _err(f'Error: unknown command "{_agnhost_subcommand(args)}" for "agnhost"')
        return 1
    ctx = ServerContext(
        server=ns.server,
        bind=ns.bind,
        port=port,
        namespace=namespace or "default",
        pod=pod,
        node=ns.node,
        image=ns.image,
        data=MappingProxyType(json.loads(ns.data)),
        html_root=ns.html_root,
        args=args,
        started=time.time(),
    )
    code = serve(ctx)
    sys.stdout.flush()
    sys.stderr.flush()
    return code


if __name__ == "__main__":
    os._exit(main())  # skip interpreter teardown: daemon threads may hold sockets
