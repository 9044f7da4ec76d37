"""The login page says why a login is refused when the name is locked.

Gradio's login form shows "Incorrect Credentials" for every refused login (status 400) and
nothing at all for any other status, and its auth callable can only answer yes or no. So
:class:`LoginMessages` (ASGI middleware in front of Gradio) answers ``POST /login`` for a
name that :meth:`bgart.ui.handlers.Studio.locked_for` reports locked with 429 and the reason
as ``detail`` (also the attempt that locks it), and adds :data:`LOGIN_SCRIPT` to the page,
which shows that reason above the form.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .server import _route as route_of

LOCKED_STATUS = 429
MESSAGE_ID = "bgart-login-message"
LOGIN_SCRIPT = """<script>(() => {
  if (window.bgartLoginWatch) return;
  window.bgartLoginWatch = true;
  const plain = window.fetch.bind(window);
  const show = (text) => {
    let p = document.getElementById("@ID@");
    if (!text) { if (p) p.remove(); return; }
    if (!p) {
      p = document.createElement("p");
      p.id = "@ID@";
      p.setAttribute("role", "alert");
      p.style.cssText = "color:#b42318;font-weight:600;margin:0.5em 0";
      const title = document.querySelector("h2");
      if (title) title.after(p); else document.body.prepend(p);
    }
    p.textContent = text;
  };
  window.fetch = async (...args) => {
    const resp = await plain(...args);
    try {
      const target = args[0] && args[0].url ? args[0].url : String(args[0]);
      if (/\\/login\\/?$/.test(new URL(target, location.href).pathname)) {
        if (resp.status === @STATUS@) show((await resp.clone().json()).detail);
        else show("");
      }
    } catch (e) { /* the page works without the message */ }
    return resp;
  };
})();</script>""".replace("@ID@", MESSAGE_ID).replace("@STATUS@", str(LOCKED_STATUS))


def lockout_text(name: str, seconds: float) -> str:
    return (
        f"'{name}' is locked for {max(1, round(seconds))} s after repeated wrong passwords; "
        "wait, then log in again"
    )


class LoginMessages:
    """ASGI middleware: a locked name's login gets 429 with the reason; the page gets the
    script that shows it. ``locked_for(name)``: seconds the name stays locked (0: not)."""

    def __init__(self, app: Any, locked_for: Callable[[str], float]) -> None:
        self.app = app
        self.locked_for = locked_for

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        route = route_of(scope)
        method = scope.get("method")
        if method == "POST" and route in ("/login", "/login/"):
            await self._login(scope, receive, send)
        elif method == "GET" and not route.strip("/"):  # the page (login form or app)
            await self._page(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _login(self, scope: Any, receive: Any, send: Any) -> None:
        from starlette.requests import Request

        chunks = []
        while True:
            message = await receive()
            chunks.append(message)
            if message.get("type") != "http.request" or not message.get("more_body"):
                break
        replay = list(chunks)

        async def again() -> Any:
            return replay.pop(0) if replay else {"type": "http.disconnect"}

        try:
            form = await Request(scope, again).form()
            name = str(form.get("username") or "").strip()
        except Exception:  # not a form: Gradio answers it
            name = ""
        replay = list(chunks)
        if name and self.locked_for(name) > 0:
            await _json(send, LOCKED_STATUS, lockout_text(name, self.locked_for(name)))
            return
        held: list[Any] = []

        async def hold(message: Any) -> None:
            held.append(message)

        await self.app(scope, again, hold)
        start = next((m for m in held if m.get("type") == "http.response.start"), None)
        if start is not None and start.get("status") == 400 and name and self.locked_for(name):
            await _json(send, LOCKED_STATUS, lockout_text(name, self.locked_for(name)))
            return
        for message in held:
            await send(message)

    async def _page(self, scope: Any, receive: Any, send: Any) -> None:
        start: dict[str, Any] | None = None
        body = bytearray()

        async def edit(message: Any) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = dict(message)
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            body.extend(message.get("body", b""))
            if message.get("more_body"):
                return
            headers = [
                (k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"
            ]
            html = bytes(body)
            is_html = any(
                k.lower() == b"content-type" and b"text/html" in v.lower() for k, v in headers
            )
            if is_html and start.get("status") == 200 and b"</head>" in html:
                html = html.replace(b"</head>", LOGIN_SCRIPT.encode() + b"</head>", 1)
            headers.append((b"content-length", str(len(html)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": html})

        await self.app(scope, receive, edit)


async def _json(send: Any, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
