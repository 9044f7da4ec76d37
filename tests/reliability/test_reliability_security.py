"""Issue 8, security: the UI binds 127.0.0.1 by default and refuses an open bind without
logins; logins are throttled after repeated failures; passwords are salted scrypt hashes; no
path from the UI reads outside the project; uploads are size-limited; weights load only as
safetensors with matching sha256; nothing unpickles a user's file."""

from __future__ import annotations

import contextlib
import inspect
import json
import pickle
import re
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.browser import free_port
from helpers.cli import run_in_process
from helpers.reliability import ROOT, assert_clean_error, clean_env, png_bytes_of, run_cli
from PIL import Image

from bgart.errors import InputError, WeightsError
from bgart.ledger import Project, hash_password, password_matches

PASSWORD = "correct horse battery"


def _project(root: Path, *, upload_mb: int | None = None) -> Path:
    with Project.init(root, production="Secure Show") as project:
        project.ledger.add_user("alice", "artist", PASSWORD)
        project.ledger.add_user("dora", "director", PASSWORD + "!")
    if upload_mb is not None:
        toml = root / "bgart.toml"
        toml.write_text(toml.read_text() + f"max_upload_mb = {upload_mb}\n")
    return root


# --- binding -------------------------------------------------------------------------------


def test_the_ui_listens_on_loopback_unless_told_and_never_open_without_logins(
    tmp_path: Path,
) -> None:
    from bgart.ui import server as ui_server

    from bgart.cli import ui as cli_ui

    assert ui_server.DEFAULT_HOST == "127.0.0.1"
    assert inspect.signature(ui_server.serve).parameters["host"].default == "127.0.0.1"
    assert inspect.signature(cli_ui.ui_command).parameters["host"].default == "127.0.0.1"
    for host in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"):
        ui_server.check_bind(host, auth=False)
    for host in ("0.0.0.0", "::", "192.168.1.20", "10.0.0.1", "example.invalid", ""):
        with pytest.raises(InputError):
            ui_server.check_bind(host, auth=False)
        if host:
            ui_server.check_bind(host, auth=True)  # allowed with logins
    # A project where nobody can log in never starts, on any address.
    root = tmp_path / "nologin"
    with Project.init(root) as project:
        project.ledger.add_user("sato", "artist")  # credited only: no password
    for host in ("127.0.0.1", "0.0.0.0"):
        with pytest.raises(InputError, match="no user can log in"):
            ui_server.plan(root, host, 7860)


@pytest.mark.slow
def test_bgart_ui_open_bind_without_logins_is_one_clean_error(tmp_path: Path) -> None:
    with Project.init(tmp_path / "p"):
        pass
    res = run_cli(["ui", "--project", str(tmp_path / "p"), "--host", "0.0.0.0"])
    assert_clean_error(res, str(tmp_path / "p"), "log in")


# --- login throttling and passwords ---------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_logins_are_throttled_after_repeated_failures(tmp_path: Path) -> None:
    from bgart.ui import handlers
    from bgart.ui.handlers import Studio

    with Project.open(_project(tmp_path / "p")) as project:
        clock = Clock()
        studio = Studio(project, clock=clock)
        assert studio.authenticate("alice", PASSWORD)
        for _ in range(handlers.MAX_LOGIN_FAILURES):
            assert not studio.authenticate("alice", "guess")
        # Locked: even the right password is refused, without checking it.
        assert not studio.authenticate("alice", PASSWORD)
        assert studio.authenticate("dora", PASSWORD + "!")  # other users are not locked out
        clock.now += handlers.LOCKOUT_SECONDS + 1
        assert studio.authenticate("alice", PASSWORD)
        # Unknown names are throttled the same way (no probing for who exists).
        for _ in range(handlers.MAX_LOGIN_FAILURES):
            assert not studio.authenticate("mallory", "x")
        assert studio._failures["mallory"].locked_until > clock.now
        # Many random names cannot grow the failure table without bound (the password
        # check itself is made instant here: 10k scrypt runs would take minutes).
        project.ledger.check_password = lambda _n, _p: False  # type: ignore[method-assign]
        for i in range(handlers.MAX_TRACKED_NAMES + 50):
            studio.authenticate(f"random-{i}", "x")
        assert len(studio._failures) <= handlers.MAX_TRACKED_NAMES + 1


def test_passwords_are_salted_scrypt_hashes_never_stored_in_clear(tmp_path: Path) -> None:
    a, b = hash_password(PASSWORD), hash_password(PASSWORD)
    assert a != b  # salted
    algo, n, _r, _p, salt, _digest = a.split("$")
    assert algo == "scrypt" and int(n) >= 2**14 and len(bytes.fromhex(salt)) >= 16
    assert password_matches(a, PASSWORD) and not password_matches(a, PASSWORD + "x")
    for broken in (
        "",
        "plain",
        "scrypt$1$1$1$zz$zz",
        "md5$x",
        a.replace("scrypt", "bcrypt"),
        "scrypt$1099511627776$8$1$00$00",
    ):  # a tampered cost must not hang/crash
        assert not password_matches(broken, PASSWORD)
    root = _project(tmp_path / "p")
    with Project.open(root) as project:
        stored = project.ledger.user("alice").password_hash  # type: ignore[union-attr]
        assert stored and stored.startswith("scrypt$") and PASSWORD not in stored
        with pytest.raises(InputError, match="shorter than 8"):
            project.ledger.add_user("bob", "artist", "short")
    for f in root.glob("bgart.db*"):
        assert PASSWORD.encode() not in f.read_bytes()
    con = sqlite3.connect(root / "bgart.db")
    rows = con.execute("SELECT name, password_hash FROM users").fetchall()
    con.close()
    assert all(h is None or h.startswith("scrypt$") for _n, h in rows)


@pytest.mark.slow
def test_bgart_users_add_takes_no_password_on_the_command_line(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    res = run_in_process(["users", "add", "bob", "--password", "hunter22hunter", "-p", str(root)])
    assert res.returncode != 0  # no such option: a password never sits in argv/history
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bgart.cli",
            "users",
            "add",
            "bob",
            "--password-stdin",
            "-p",
            str(root),
        ],
        input="hunter22hunter\n",
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    with Project.open(root) as project:
        assert project.ledger.check_password("bob", "hunter22hunter")


# --- a real server: login, files, uploads ------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from bgart.ui.server import serve

    base = tmp_path_factory.mktemp("ui-sec")
    root = _project(base / "show", upload_mb=1)
    outside = base / "outside.png"
    Image.new("RGB", (64, 64), (200, 200, 200)).save(outside)
    port = free_port()
    app, url, _ = serve(root, "127.0.0.1", port, block=False)
    blocks = app.get_blocks()
    try:
        yield {
            "url": url.rstrip("/"),
            "root": root,
            "port": port,
            "blocks": blocks,
            "studio": blocks.auth.__self__,
            "outside": outside,
        }
    finally:
        blocks.close()


def _client(server: dict[str, Any], login: bool = True) -> Any:
    import httpx

    c = httpx.Client(base_url=server["url"], timeout=60)
    if login:
        r = c.post("/login", data={"username": "dora", "password": PASSWORD + "!"})
        assert r.status_code == 200, r.text
    return c


def _host_addresses() -> list[str]:
    addrs = set()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))  # no packet is sent: picks the outgoing address
            addrs.add(s.getsockname()[0])
    except OSError:
        pass
    with contextlib.suppress(OSError):
        addrs.update(socket.gethostbyname_ex(socket.gethostname())[2])
    return sorted(a for a in addrs if not a.startswith("127."))


@pytest.mark.slow
def test_the_server_is_reachable_on_loopback_only(server: dict[str, Any]) -> None:
    assert server["blocks"].server_name == "127.0.0.1"
    with socket.create_connection(("127.0.0.1", server["port"]), timeout=5):
        pass
    for addr in _host_addresses():
        with pytest.raises(OSError), socket.create_connection((addr, server["port"]), timeout=2):
            pass


@pytest.mark.slow
def test_logins_over_http_are_throttled(server: dict[str, Any]) -> None:
    from bgart.ui import handlers

    c = _client(server, login=False)
    assert c.get("/gradio_api/file=" + str(server["outside"])).status_code == 401
    for _ in range(handlers.MAX_LOGIN_FAILURES):
        r = c.post("/login", data={"username": "alice", "password": "guess"})
        assert r.status_code != 200
    r = c.post("/login", data={"username": "alice", "password": PASSWORD})
    assert r.status_code != 200, "a locked name logged in"
    studio = server["studio"]
    real = studio.clock
    studio.clock = lambda: real() + handlers.LOCKOUT_SECONDS + 1
    try:
        r = c.post("/login", data={"username": "alice", "password": PASSWORD})
        assert r.status_code == 200, r.text
    finally:
        studio.clock = real


@pytest.mark.slow
def test_no_path_from_the_ui_reads_outside_the_project(server: dict[str, Any]) -> None:
    c = _client(server)
    root: Path = server["root"]
    secrets = [
        server["outside"],
        Path("/etc/passwd"),
        root / "bgart.db",
        root / "bgart.toml",
        root / ".bgart-ui" / ".." / "bgart.db",
    ]
    for path in secrets:
        for url in (
            f"/gradio_api/file={path}",
            f"/file={path}",
            f"/gradio_api/file={path}".replace(str(root), str(root) + "/./"),
            "/gradio_api/file=../../../../../../" + str(path).lstrip("/"),
        ):
            r = c.get(url)
            assert r.status_code in (400, 403, 404), (url, r.status_code)
            if path.exists():
                assert path.read_bytes()[:32] not in r.content
    # A request that names a server path as an "uploaded" file is refused before any handler
    # sees it: the layout outside the project is never read into the ledger.
    cfg = c.get("/config").json()
    fn = next(i for i, d in enumerate(cfg["dependencies"]) if d.get("api_name") == "on_new_shot")
    for path in (server["outside"], root / "bgart.db", Path("/etc/passwd")):
        session = f"s{abs(hash(str(path))) % 10**8}"
        body = {
            "data": [
                "EP09_C001",
                {
                    "path": str(path),
                    "meta": {"_type": "gradio.FileData"},
                    "orig_name": "layout.png",
                },
                "all",
            ],
            "fn_index": fn,
            "session_hash": session,
        }
        assert c.post("/gradio_api/queue/join", json=body).status_code == 200
        done = None
        with c.stream("GET", "/gradio_api/queue/data", params={"session_hash": session}) as s:
            for line in s.iter_lines():
                if line.startswith("data:"):
                    msg = json.loads(line[5:])
                    if msg.get("msg") == "process_completed":
                        done = msg
                        break
        assert done is not None and done.get("success") is False, done
    with Project.open(root) as project:
        assert not project.ledger.events(shot="EP09_C001")


@pytest.mark.slow
def test_uploads_are_size_limited(server: dict[str, Any]) -> None:
    c = _client(server)
    big = b"\x89PNG\r\n\x1a\n" + b"\x00" * (1024 * 1024 + 10)
    r = c.post("/gradio_api/upload", files={"files": ("big.png", big, "image/png")})
    assert r.status_code == 413, r.text
    small = png_bytes_of(64, 48)
    r = c.post("/gradio_api/upload", files={"files": ("small.png", small, "image/png")})
    assert r.status_code == 200, r.text
    (stored,) = r.json()
    assert Path(stored).resolve().is_relative_to(server["root"].resolve())  # kept inside


def test_upload_limits_below_the_web_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The handler and the image decoder bound what they read even when called directly."""
    from bgart.ui.handlers import Studio

    from bgart import images

    with Project.open(_project(tmp_path / "p", upload_mb=1)) as project:
        studio = Studio(project)

        class Req:
            username = "alice"

        big = tmp_path / "big.png"
        big.write_bytes(png_bytes_of(64, 48) + b"\x00" * (1024 * 1024))
        with pytest.raises(InputError, match="too large"):
            studio.new_shot(Req(), "EP01_C001", big)
        with pytest.raises(InputError, match="not a regular file"):
            studio.new_shot(Req(), "EP01_C001", "/dev/zero")
    with pytest.raises(InputError, match="too large"):
        images.read_user_file(big, max_bytes=1024)
    monkeypatch.setattr(images, "MAX_FILE_BYTES", 100)
    with pytest.raises(InputError, match="upload: file too large"):
        images.open_image(png_bytes_of(64, 48), name="upload")


# --- weights and pickles ---------------------------------------------------------------------

SOURCES = sorted([*(ROOT / "bgart").rglob("*.py"), *(ROOT / "ui").rglob("*.py")])
FORBIDDEN = [
    (r"\btorch\.load\s*\(", "torch.load"),
    (r"\bpickle\.(load|loads|Unpickler)\b", "pickle"),
    (r"\bimport\s+(c?pickle|dill|joblib|marshal|shelve)\b", "a pickle module"),
    (r"trust_remote_code\s*=\s*True", "remote code"),
    (r"use_safetensors\s*=\s*False", "non-safetensors weights"),
    (r"weights_only\s*=\s*False", "torch.load of full pickles"),
    (r"yaml\.(unsafe_)?load\s*\((?![^)]*SafeLoader)", "an unsafe YAML loader"),
    (r"(?<![.\w])eval\s*\(|(?<![.\w])exec\s*\(", "eval/exec"),  # not torch's module.eval()
]


def test_no_source_unpickles_or_loads_remote_code() -> None:
    assert SOURCES
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        for pattern, what in FORBIDDEN:
            m = re.search(pattern, text)
            assert m is None, f"{path.relative_to(ROOT)}: {what}: {m.group(0) if m else ''}"
    engine = (ROOT / "bgart" / "generation" / "engine.py").read_text(encoding="utf-8")
    assert "use_safetensors=True" in engine and "local_files_only=True" in engine


def test_weights_load_only_as_pinned_safetensors(
    tiny_settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading the model, generating, and reading every kind of user file never calls an
    unpickler: each is made to fail loudly for the duration."""
    import torch

    from bgart.generation import Engine, GenerationRequest, weights
    from bgart.images import open_image

    calls: list[str] = []

    def refuse(name: str) -> Any:
        def boom(*_a: Any, **_k: Any) -> Any:
            calls.append(name)
            raise AssertionError(f"{name} called")

        return boom

    monkeypatch.setattr(torch, "load", refuse("torch.load"))
    monkeypatch.setattr(pickle, "load", refuse("pickle.load"))
    monkeypatch.setattr(pickle, "loads", refuse("pickle.loads"))
    monkeypatch.setattr(pickle, "Unpickler", refuse("pickle.Unpickler"))
    engine = Engine.load(tiny_settings)
    layout = Image.new("RGB", (64, 64), (0, 0, 0))
    req = GenerationRequest(
        prompt="street",
        width=64,
        height=64,
        seeds=[1],
        layout=layout,
        steps=2,
        layout_sha256="00" * 32,
    )
    (result,) = engine.generate(req)
    assert result.image.size == (64, 64)
    evil = tmp_path / "evil.png"
    evil.write_bytes(pickle.dumps({"x": 1}))
    with pytest.raises(InputError):
        open_image(evil)
    assert not calls
    # The lock admits only safetensors/json/txt, named inside the model folder.
    for rel, why in [
        ("unet/w.bin", "pickle"),
        ("unet/w.ckpt", "pickle"),
        ("unet/w.pt", "pickle"),
        ("unet/w.pkl", "pickle"),
        ("unet/w.py", "not allowed"),
        ("../w.safetensors", "relative"),
        ("/abs/w.safetensors", "relative"),
    ]:
        with pytest.raises(WeightsError, match=why):
            weights._check_file_name(Path("weights.lock"), "m", rel)
