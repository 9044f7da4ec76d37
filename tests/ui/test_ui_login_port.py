"""Issue 22 defects, against a real `bgart ui` server on a free loopback port: a locked
name's login says it is locked (not "Incorrect Credentials"), and a busy port is named."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from helpers.browser import free_port
from helpers.cli import run_in_process

from bgart.errors import InputError
from bgart.ledger import Project

PASSWORD = "login-test-password"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from bgart.ui.server import serve

    root = tmp_path_factory.mktemp("ui-login") / "show"
    with Project.init(root, production="Login Show") as project:
        project.ledger.add_user("dora", "director", PASSWORD)
    port = free_port()
    app, url, _ = serve(root, "127.0.0.1", port, block=False)
    try:
        yield {"url": url.rstrip("/"), "root": root, "port": port}
    finally:
        app.get_blocks().close()


@pytest.mark.slow
def test_a_locked_name_is_told_so(server: dict[str, Any]) -> None:
    import httpx
    from bgart.ui.handlers import MAX_LOGIN_FAILURES
    from bgart.ui.login import MESSAGE_ID

    c = httpx.Client(base_url=server["url"], timeout=60)
    page = c.get("/")
    assert page.status_code == 200 and MESSAGE_ID in page.text  # the page shows the reason
    for _ in range(MAX_LOGIN_FAILURES - 1):
        r = c.post("/login", files={"username": (None, "dora"), "password": (None, "wrong")})
        assert r.status_code == 400  # a wrong password: Gradio's own answer
    r = c.post("/login", files={"username": (None, "dora"), "password": (None, "wrong")})
    assert r.status_code == 429, r.text  # the attempt that locks it says so
    assert "'dora' is locked for 30 s" in r.json()["detail"]
    r = c.post("/login", data={"username": "dora", "password": PASSWORD})
    assert r.status_code == 429 and "locked" in r.json()["detail"]  # even the right one
    assert "access-token" not in "".join(r.headers.get_list("set-cookie"))


@pytest.mark.slow
def test_a_busy_port_is_named(server: dict[str, Any]) -> None:
    from bgart.ui.server import plan

    port = server["port"]
    with pytest.raises(InputError, match=rf"--port {port}: 127.0.0.1:{port} is already in use"):
        plan(server["root"], "127.0.0.1", port)
    result = run_in_process(["ui", "--project", str(server["root"]), "--port", str(port)])
    said = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"error: --port {port}: 127.0.0.1:{port} is already in use" in said
    assert "internal error" not in said
