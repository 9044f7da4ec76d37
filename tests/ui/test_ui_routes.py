"""Issue 19, item 9: Gradio's routes that have no login check of their own
(`/gradio_api/reset`, `/gradio_api/cancel`) and FastAPI's `/openapi.json` answer nothing
before login, against a real server on a free loopback port (plain HTTP, as a browser's
fetch would send it)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from helpers.browser import free_port

from bgart.ledger import Project

PASSWORD = "route-test-password"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from bgart.ui.server import serve

    root = tmp_path_factory.mktemp("ui-routes") / "show"
    with Project.init(root, production="Route Show") as project:
        project.ledger.add_user("dora", "director", PASSWORD)
    port = free_port()
    app, url, _ = serve(root, "127.0.0.1", port, block=False)
    blocks = app.get_blocks()
    try:
        yield {"url": url.rstrip("/"), "root": root}
    finally:
        blocks.close()


def _client(server: dict[str, Any], *, login: bool) -> Any:
    import httpx

    c = httpx.Client(base_url=server["url"], timeout=60)
    if login:
        r = c.post("/login", data={"username": "dora", "password": PASSWORD})
        assert r.status_code == 200, r.text
    return c


CANCEL = {"session_hash": "abc123", "fn_index": 0, "event_id": "e" * 32}


@pytest.mark.slow
def test_reset_cancel_and_the_schema_need_a_login(server: dict[str, Any]) -> None:
    with Project.open(server["root"]) as project:
        head = project.ledger.head()
    anon = _client(server, login=False)
    for path in ("/gradio_api/reset", "/gradio_api/reset/", "/gradio_api//reset"):
        r = anon.post(path, json={"event_id": "e" * 32})
        assert r.status_code == 401, (path, r.status_code, r.text)
    for path in ("/gradio_api/cancel", "/gradio_api/cancel/"):
        r = anon.post(path, json=CANCEL)
        assert r.status_code == 401, (path, r.status_code, r.text)
    # A forged or stale session cookie is no login either.
    anon.cookies.set("access-token-forged", "x")
    assert anon.post("/gradio_api/cancel", json=CANCEL).status_code == 401
    r = anon.get("/openapi.json")
    assert r.status_code == 404 and "/gradio_api/" not in r.text
    assert anon.get("/gradio_api/openapi.json").status_code == 401
    assert anon.get("/docs").status_code == 404
    assert anon.get("/").status_code == 200  # the login page itself still loads

    user = _client(server, login=True)
    assert user.post("/gradio_api/reset", json={"event_id": "e" * 32}).status_code == 200
    assert user.post("/gradio_api/cancel", json=CANCEL).status_code == 200
    assert user.get("/gradio_api/openapi.json").status_code == 200
    with Project.open(server["root"]) as project:
        assert project.ledger.head() == head  # nothing was recorded by any of it
