"""Starting the browser UI safely (``bgart ui``).

What this module guarantees, whatever the page does:

* **Logins always.** Users and their salted password hashes come from the project database
  (``bgart users add``); with no user who has a password, the UI does not start. Binding a
  non-loopback address without authentication is refused (:func:`check_bind`).
* **No file outside the project folder is served.** Gradio serves only files it created
  or received (its upload/cache folders) plus ``allowed_paths``. Both folders are moved
  into ``<project>/.bgart-ui/`` before Gradio is imported, ``allowed_paths`` is empty, and the
  database and settings file are blocked outright.
* **No route answers before login but the login itself.** Gradio leaves ``/gradio_api/reset``
  and ``/gradio_api/cancel`` open, and FastAPI serves the route schema at ``/openapi.json``:
  :class:`LoginRequired` answers 401 on the first two until the browser has logged in, and
  FastAPI's schema is switched off (Gradio's own, ``/gradio_api/openapi.json``, needs a login).
* **The model loads lazily**, on the first generation, so the page comes up (and says "no
  model" as a message) on a machine without weights.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bgart.errors import InputError
from bgart.ledger import DB_FILE, Project
from bgart.settings import PROJECT_FILE

if TYPE_CHECKING:
    from .handlers import Studio

log = logging.getLogger("bgart.ui")

UI_DIR = ".bgart-ui"  # Gradio's upload and cache folders, inside the project
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860


def is_loopback(host: str) -> bool:
    """True when ``host`` only listens on this machine (127.0.0.0/8, ::1, localhost)."""
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:  # a host name: loopback only if every address it resolves to is
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    addrs = {str(info[4][0]) for info in infos}
    return bool(addrs) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addrs)


def check_bind(host: str, *, auth: bool) -> None:
    """Refuse to listen beyond this machine without logins."""
    if not host or not host.strip():
        raise InputError("--host: empty")
    if not auth and not is_loopback(host):
        raise InputError(
            f"--host {host}: not a loopback address; the UI listens on the "
            "network only with logins (add users with `bgart users add`)"
        )


def check_port(host: str, port: int) -> None:
    """Refuse a port something already listens on, by name (Gradio would say "Cannot find
    empty port")."""
    try:
        infos = socket.getaddrinfo(host.strip().strip("[]"), port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise InputError(f"--host {host}: cannot resolve it ({exc.strerror or exc})") from None
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        if os.name != "nt":  # as uvicorn binds: a port left in TIME_WAIT is free
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise InputError(port_in_use(host, port, exc)) from None


def port_in_use(host: str, port: int, exc: OSError | None = None) -> str:
    why = "already in use" if exc is None or exc.errno == errno.EADDRINUSE else exc.strerror
    return (
        f"--port {port}: {host}:{port} is {why} (another bgart ui or program listens "
        "there); stop it or pick another port, e.g. --port " + str(port + 1)
    )


@dataclass(frozen=True)
class ServePlan:
    """What :func:`serve` will launch (built and checked before Gradio is imported)."""

    project: Project
    host: str
    port: int
    ui_dir: Path
    blocked: list[str]
    max_file_size: str


def plan(project_dir: Path | str, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> ServePlan:
    """Open the project and check everything that can be wrong before starting."""
    if not 1 <= int(port) <= 65535:
        raise InputError(f"--port {port}: must be 1..65535")
    project = Project.open(project_dir)
    try:
        users = [u for u in project.ledger.users() if u.password_hash]
        if not users:
            raise InputError(
                f"{project.root}: no user can log in; add one with "
                "`bgart users add NAME --role admin`"
            )
        check_bind(host, auth=True)
    except BaseException:
        project.close()
        raise
    if not is_loopback(host):
        log.warning(
            "listening on %s without TLS: passwords cross the network in clear; "
            "put the UI behind an HTTPS proxy",
            host,
        )
    try:
        check_port(host, int(port))
    except BaseException:
        project.close()
        raise
    blocked = [str(project.root / DB_FILE), str(project.root / PROJECT_FILE)]
    blocked += [str(project.root / f"{DB_FILE}{suffix}") for suffix in ("-wal", "-shm")]
    return ServePlan(
        project,
        host,
        int(port),
        project.root / UI_DIR,
        blocked,
        f"{project.settings.max_upload_mb}mb",
    )


LOGIN_REQUIRED = frozenset(
    {"/gradio_api/reset", "/gradio_api/reset/", "/gradio_api/cancel", "/gradio_api/cancel/"}
)
"""Gradio routes without its own login check (Gradio 6: reset is a no-op, cancel stops a
session's job given its ids): refused here before login all the same."""


class LoginRequired:
    """ASGI middleware: 401 for :data:`LOGIN_REQUIRED` paths without a logged-in session.

    A session is what Gradio's own ``login_check`` accepts: the access-token cookie of a
    login, looked up in the app's tokens (``scope["app"]`` is the Gradio app)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") == "http" and _route(scope) in LOGIN_REQUIRED:
            gradio_app = scope.get("app")
            if not _logged_in(scope, gradio_app):
                body = b'{"detail":"Not authenticated"}'
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def _route(scope: Any) -> str:
    path = str(scope.get("path", ""))
    root = str(scope.get("root_path", "") or "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return "/" + "/".join(p for p in path.split("/") if p) + ("/" if path.endswith("/") else "")


def _logged_in(scope: Any, gradio_app: Any) -> bool:
    from http.cookies import CookieError, SimpleCookie

    tokens = getattr(gradio_app, "tokens", None)
    cookie_id = getattr(gradio_app, "cookie_id", None)
    if not isinstance(tokens, dict) or not cookie_id:
        return False  # not the Gradio app: refuse rather than guess
    jar: SimpleCookie = SimpleCookie()
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except CookieError:  # a malformed cookie header: no session
                return False
    for name in (f"access-token-{cookie_id}", f"access-token-unsecure-{cookie_id}"):
        morsel = jar.get(name)
        if morsel is not None and tokens.get(morsel.value) is not None:
            return True
    return False


def _contain_gradio_files(ui_dir: Path) -> None:
    """Point Gradio's upload/cache folders into the project (before Gradio reads them)."""
    (ui_dir / "tmp").mkdir(parents=True, exist_ok=True)
    (ui_dir / "examples").mkdir(parents=True, exist_ok=True)
    os.environ["GRADIO_TEMP_DIR"] = str(ui_dir / "tmp")
    os.environ["GRADIO_EXAMPLES_CACHE"] = str(ui_dir / "examples")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def build(serve_plan: ServePlan, shots: Path | None = None) -> tuple[Studio, Any]:
    """The studio (with the shot list imported) and its Blocks app."""
    _contain_gradio_files(serve_plan.ui_dir)
    from .app import build_app
    from .handlers import Studio

    studio = Studio(serve_plan.project)
    if shots is not None:
        studio.import_shot_list(shots)
    return studio, build_app(studio)


def serve(
    project_dir: Path | str,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    shots: Path | None = None,
    *,
    block: bool = True,
    say: Callable[[str], None] | None = None,
) -> Any:
    """Run the UI for ``project_dir`` (blocks until interrupted unless ``block`` is False);
    ``say`` hears where it listens, once every check has passed."""
    serve_plan = plan(project_dir, host, port)
    if say is not None:
        say(f"bgart ui: project {serve_plan.project.root} on http://{host}:{port}")
    from starlette.middleware import Middleware

    from .login import LoginMessages

    studio, demo = build(serve_plan, shots)
    demo.queue(default_concurrency_limit=4)
    try:
        return _launch(demo, studio, serve_plan, block, LoginMessages, Middleware)
    except OSError as exc:  # taken between the check and the launch
        if "empty port" in str(exc) or exc.errno == errno.EADDRINUSE:
            raise InputError(port_in_use(host, serve_plan.port)) from None
        raise


def _launch(
    demo: Any, studio: Studio, serve_plan: ServePlan, block: bool, messages: Any, middleware: Any
) -> Any:
    return demo.launch(
        server_name=serve_plan.host,
        server_port=serve_plan.port,
        auth=studio.authenticate,
        auth_message=f"bgart · {studio.production}: log in with your bgart user",
        share=False,
        ssr_mode=False,
        pwa=False,
        mcp_server=False,
        enable_monitoring=False,
        allowed_paths=[],
        blocked_paths=serve_plan.blocked,
        max_file_size=serve_plan.max_file_size,
        footer_links=["settings"],
        show_error=False,
        inbrowser=False,
        prevent_thread_lock=not block,
        quiet=False,
        app_kwargs={
            "openapi_url": None,
            "middleware": [
                middleware(LoginRequired),
                middleware(messages, locked_for=studio.locked_for),
            ],
        },
    )
