"""The UI's handlers without a browser: each act is recorded for the logged-in user."""

from __future__ import annotations

import inspect
import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bgart.ui.handlers import Studio, active_seconds, brush_layer, describe_figures, request_user
from helpers.ui import LAYOUT_ARTIST, PASSWORDS, PLATE_H, PLATE_W, SHOT, layout_png, req
from PIL import Image, ImageDraw

from bgart import plates as workflow
from bgart import provenance as contribution
from bgart.errors import BgartError, InputError
from bgart.verify import verify_project


def _shown(value: object) -> Image.Image:
    """The plate the page shows: a PNG file (Studio.plate_file), as an image."""
    assert isinstance(value, str), value
    with Image.open(value) as img:
        return img.convert("RGB")


def _editor_value(
    plate: Image.Image,
    box: tuple[int, int, int, int],
    colour: tuple[int, int, int, int] = (200, 30, 30, 255),
) -> dict:
    """What gr.ImageEditor(type="pil", image_mode="RGBA") hands over after one stroke."""
    layer = Image.new("RGBA", plate.size, (0, 0, 0, 0))
    ImageDraw.Draw(layer).ellipse(box, fill=colour)
    composite = plate.convert("RGBA")
    composite.alpha_composite(layer)
    return {"background": plate.convert("RGBA"), "layers": [layer], "composite": composite}


def _kinds(studio: Studio) -> list[tuple[str, str]]:
    return [(ev.kind, ev.actor) for ev in studio.project.ledger.events(shot=SHOT)]


# --- small pure helpers --------------------------------------------------------------------


def test_active_seconds_counts_gaps_between_edits_but_not_idle_ones() -> None:
    assert active_seconds([]) == 0.0
    assert active_seconds([100.0]) == 0.0
    assert active_seconds([100.0, 110.0, 130.0]) == 30.0
    # a 61 s pause (coffee) is left out; the edits around it still count
    assert active_seconds([0.0, 20.0, 81.0, 86.0]) == 25.0
    assert active_seconds([5.0, 0.0]) == 5.0  # order does not matter


def test_request_without_user_is_refused() -> None:
    assert request_user(req("alice")) == "alice"
    with pytest.raises(BgartError, match="not logged in"):
        request_user(req(None))
    with pytest.raises(BgartError, match="not logged in"):
        request_user(None)


def test_brush_layer_needs_paint_and_merges_layers() -> None:
    plate = Image.new("RGB", (32, 24), (10, 20, 30))
    with pytest.raises(InputError, match="nothing painted"):
        brush_layer(None, "paint")
    with pytest.raises(InputError, match="nothing painted"):
        brush_layer({"background": plate, "layers": [], "composite": None}, "paint")
    empty = Image.new("RGBA", (32, 24), (0, 0, 0, 0))
    with pytest.raises(InputError, match="nothing painted"):
        brush_layer({"background": plate, "layers": [empty], "composite": None}, "paint")
    a = _editor_value(plate, (0, 0, 8, 8))["layers"][0]
    b = _editor_value(plate, (20, 10, 30, 20), (0, 0, 255, 255))["layers"][0]
    merged = brush_layer({"layers": [a, b]}, "paint")
    alpha = np.asarray(merged)[..., 3]
    assert alpha[4, 4] == 255 and alpha[15, 25] == 255 and alpha[20, 2] == 0


def test_describe_figures_shows_the_shares() -> None:
    assert describe_figures(None) == "No plate yet."
    text = describe_figures({"human_paint_share": 0.25, "ai_gen_share": 0.75, "status": "open"})
    assert "Human paint 25.00%" in text and "AI generated 75.00%" in text


# --- logging in ----------------------------------------------------------------------------


def test_login_uses_the_project_users_and_slows_down_guessing(studio: Studio) -> None:
    clock = [1000.0]
    studio.clock = lambda: clock[0]
    assert studio.authenticate("alice", PASSWORDS["alice"])
    assert not studio.authenticate("alice", "wrong password")
    assert not studio.authenticate("nobody", PASSWORDS["alice"])
    assert not studio.authenticate(LAYOUT_ARTIST, "")  # credited, but has no password
    for _ in range(5):
        assert not studio.authenticate("dora", "guess")
    assert not studio.authenticate("dora", PASSWORDS["dora"])  # locked for a while
    clock[0] += 31
    assert studio.authenticate("dora", PASSWORDS["dora"])
    assert studio.whoami(req("dora")) == ("dora", "director")
    with pytest.raises(BgartError, match="not in this project"):
        studio.whoami(req("mallory"))


# --- the whole loop ------------------------------------------------------------------------


def test_the_loop_records_every_act_with_the_logged_in_user(studio: Studio) -> None:
    alice, dora = req("alice"), req("dora")
    cards = studio.shots()
    assert [(c.code, c.status) for c in cards] == [(SHOT, "no plate")]
    view = studio.open_shot(SHOT)
    assert view.layout is not None and view.plate is None and view.versions == []
    assert (view.width, view.height) == (PLATE_W, PLATE_H)

    steps: list[tuple[int, int]] = []
    cands = studio.generate(
        alice, SHOT, "street", "quiet street", 7, 2, progress=lambda d, t: steps.append((d, t))
    )
    assert [c.number for c in cands] == [1, 2] and [c.seed for c in cands] == [7, 8]
    assert cands[0].image.size == (PLATE_W, PLATE_H)
    assert steps and steps[-1][0] == steps[-1][1]
    gens = studio.project.ledger.events(shot=SHOT, kinds=("ai.generated",))
    assert [ev.payload["requested_by"] for ev in gens] == ["alice", "alice"]
    assert workflow.shot_status(studio.project, SHOT) == "generated"

    rec = studio.choose(alice, SHOT, cands[1].number)
    assert rec.kind == "variation.selected"
    plate = _shown(studio.open_shot(SHOT).plate)
    assert np.array_equal(np.asarray(plate), np.asarray(cands[1].image))

    value = studio.editor_value(SHOT)
    assert value is not None and value["layers"] == []
    with Image.open(value["background"]) as background:  # a file in Gradio's upload folder
        assert np.array_equal(np.asarray(background), np.asarray(plate))
        value = _editor_value(background.convert("RGB"), (30, 20, 70, 60))
    studio.clock = lambda: 1030.0
    painted = studio.save_paint(alice, SHOT, value, [1000.0, 1010.0, 1012.0])
    assert painted.kind == "human.painted"
    ev = studio.project.ledger.events(shot=SHOT, kinds=("human.painted",))[-1]
    assert ev.actor == "alice" and ev.payload["active_seconds"] == 30.0
    # The human share is the stroke's alpha over the pixels it visibly changed.
    layer = np.asarray(value["layers"][0])
    before = np.asarray(plate)
    _after, visible, _ = contribution.composite(before, layer[..., :3], layer[..., 3])
    expected = float((layer[..., 3].astype(np.float64) / 255.0)[visible].sum() / visible.size)
    figs = workflow.plate_figures(studio.project, SHOT)
    assert figs["human_paint_share"] == pytest.approx(expected, rel=1e-6)
    assert figs["human_paint_share"] > 0
    assert workflow.shot_status(studio.project, SHOT) == "in retouch"

    mask_value = _editor_value(plate, (80, 30, 120, 80), (255, 0, 255, 255))
    fixed = studio.ai_fix(alice, SHOT, mask_value, "a red mailbox", 3, "street", [1020.0])
    assert fixed.kind == "ai.inpainted"
    inp = studio.project.ledger.events(shot=SHOT, kinds=("ai.inpainted",))[-1]
    assert inp.payload["directed_by"] == "alice" and inp.actor_kind == "ai"
    assert workflow.plate_figures(studio.project, SHOT)["masks"] == 1

    back = studio.undo(alice, SHOT, painted.version)
    assert back.kind == "plate.reverted"
    versions = studio.open_shot(SHOT).versions
    assert [v.number for v in versions] == [1, 2, 3, 4, 5]  # history kept
    assert "plate.reverted by alice" in versions[-1].label

    studio.submit(alice, SHOT)
    assert workflow.shot_status(studio.project, SHOT) == "submitted"
    assert [c.code for c in studio.shots("submitted")] == [SHOT]
    assert studio.shots("accepted") == []

    with pytest.raises(BgartError, match="only directors and admins"):
        studio.review(alice, SHOT, "accept")
    with pytest.raises(InputError, match="comment"):
        studio.review(dora, SHOT, "reject", "")
    studio.review(dora, SHOT, "reject", "sky too flat")
    assert workflow.shot_status(studio.project, SHOT) == "rejected"
    studio.review(req("adam"), SHOT, "accept", "ok now")
    assert workflow.shot_status(studio.project, SHOT) == "accepted"
    assert _kinds(studio)[-3:] == [
        ("plate.submitted", "alice"),
        ("plate.rejected", "dora"),
        ("plate.accepted", "adam"),
    ]
    assert _kinds(studio)[0] == ("layout.imported", LAYOUT_ARTIST)
    verify_project(studio.project)  # the chain and every raster still check out

    plain = studio.review_image(SHOT, heat=False)
    heat = studio.review_image(SHOT, heat=True)
    assert isinstance(plain, str) and isinstance(heat, Image.Image)
    with Image.open(plain) as shown:
        assert np.array_equal(np.asarray(shown), workflow.plate_state(studio.project, SHOT).image)
        assert heat.size == shown.size  # an overlay on the full-size plate: legend outside


# --- errors are messages ------------------------------------------------------------------


def test_plate_files_show_the_plate_and_only_the_latest_are_kept(
    studio: Studio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page gets each plate version as a PNG file (not an image Gradio re-encodes);
    the folder keeps the most recently shown ones only."""
    import bgart.ui.handlers as handlers

    monkeypatch.setattr(handlers, "MAX_PLATE_FILES", 2)
    code = "ep09_c001"
    layout = io.BytesIO()
    Image.new("L", (64, 40), 255).save(layout, "PNG")
    workflow.record_layout(studio.project, code, layout.getvalue(), "layout-san")
    assert studio.plate_file(code) is None and studio.editor_value(code) is None  # no plate yet
    rng = np.random.default_rng(2)
    workflow.record_final(studio.project, code, rng.integers(0, 256, (40, 64, 3), np.uint8), "bob")
    shown = []
    for i in range(3):
        path = studio.plate_file(code)
        assert path is not None and Path(path).is_relative_to(Path(os.environ["GRADIO_TEMP_DIR"]))
        with Image.open(path) as img:
            assert np.array_equal(np.asarray(img), workflow.plate_state(studio.project, code).image)
        shown.append(Path(path))
        layer = np.zeros((40, 64, 4), np.uint8)
        layer[i * 4 : i * 4 + 4] = (255, 0, 0, 255)
        workflow.record_paint(studio.project, code, layer, "bob")
    assert studio.plate_file(code) is not None
    kept = sorted(shown[0].parent.glob("*.png"))
    assert len(kept) == 2 and not shown[0].exists() and not shown[1].exists()
    assert shown[2].exists()  # the one shown last before the newest

    # a folder that cannot be written (a full disk, a file in its way): the plate is shown
    # all the same, as an image
    blocker = Path(os.environ["GRADIO_TEMP_DIR"]) / "not-a-folder"
    blocker.write_bytes(b"")
    monkeypatch.setattr("gradio.utils.get_upload_folder", lambda: str(blocker))
    workflow.record_paint(studio.project, code, np.full((40, 64, 4), 255, np.uint8), "bob")
    fallback = studio.plate_file(code)
    assert isinstance(fallback, Image.Image)
    assert np.array_equal(np.asarray(fallback), workflow.plate_state(studio.project, code).image)


def test_an_ai_fix_overtaken_by_a_save_is_refused_not_painted_over(
    studio: Studio,
) -> None:
    """Bob saves paint while Alice's AI fix is computing: her result was made from the older
    version, so it is refused by name and Bob's strokes inside her mask stay his."""
    alice, bob = req("alice"), req("bob")
    studio.project.ledger.add_user("bob", "artist", "bob-secret-1")
    cands = studio.generate(alice, SHOT, "street", "quiet street", 7, 1)
    studio.choose(alice, SHOT, cands[0].number)
    plate = _shown(studio.open_shot(SHOT).plate)
    mask_value = _editor_value(plate, (10, 10, 90, 70), (255, 0, 255, 255))
    bob_value = _editor_value(plate, (20, 20, 60, 50))
    real = studio._with_engine

    def bob_saves_meanwhile(job: Any) -> Any:
        result = real(job)
        studio.save_paint(bob, SHOT, bob_value, [])
        return result

    studio._with_engine = bob_saves_meanwhile  # type: ignore[method-assign]
    n = workflow.plate_versions(studio.project, SHOT)[-1].number
    with pytest.raises(BgartError, match=rf"made from version {n}, but version {n + 1} was saved"):
        studio.ai_fix(alice, SHOT, mask_value, "a red mailbox", 3, "street")
    studio._with_engine = real  # type: ignore[method-assign]
    kinds = [ev.kind for ev in studio.project.ledger.events(shot=SHOT)]
    assert kinds[-1] == "human.painted" and "ai.inpainted" not in kinds
    assert workflow.plate_figures(studio.project, SHOT)["human_paint_share"] > 0
    again = studio.ai_fix(alice, SHOT, mask_value, "a red mailbox", 3, "street")
    assert again.kind == "ai.inpainted" and again.version == n + 2


def _app_fns(studio: Studio) -> dict[str, Any]:
    from bgart.ui.app import build_app

    return {f.fn.__name__: f.fn for f in build_app(studio).fns.values() if f.fn}


def _by_elem(out: dict[Any, Any]) -> dict[str, Any]:
    return {c.elem_id: v for c, v in out.items() if getattr(c, "elem_id", None)}


def test_a_review_of_a_version_overtaken_by_a_save_is_refused_and_shows_the_new_one(
    studio: Studio,
) -> None:
    """The director's page shows v1; Alice saves v2 meanwhile. Accept must not land on v2,
    which nobody reviewed: it is refused, and the page then shows v2 to decide on."""
    alice, dora = req("alice"), req("dora")
    cands = studio.generate(alice, SHOT, "street", "quiet street", 7, 1)
    studio.choose(alice, SHOT, cands[0].number)
    seen = studio.open_shot(SHOT).version  # what the director's page shows
    assert seen is not None
    studio.submit(alice, SHOT, version=seen)
    plate = _shown(studio.open_shot(SHOT).plate)
    studio.save_paint(alice, SHOT, _editor_value(plate, (10, 10, 60, 50)), [])
    new = seen + 1
    with pytest.raises(BgartError, match=rf"looking at v{seen}, but v{new} was saved by alice"):
        studio.review(dora, SHOT, "accept", "good", version=seen)
    assert "plate.accepted" not in [k for k, _a in _kinds(studio)]
    fns = _app_fns(studio)
    with pytest.warns(UserWarning, match=f"looking at v{seen}"):
        out = _by_elem(fns["on_accept"](SHOT, "good", False, "all", seen, dora))
    assert out["status-line"].startswith("⚠") and f"v{new} was saved" in out["status-line"]
    assert f"· v{new} ·" in out["shot-status"]  # the page now shows the version to decide on
    assert "plate.accepted" not in [k for k, _a in _kinds(studio)]
    fns["on_accept"](SHOT, "good", False, "all", new, dora)
    accepted = studio.project.ledger.events(shot=SHOT)[-1]
    assert (accepted.kind, accepted.actor, accepted.payload["version"]) == (
        "plate.accepted",
        "dora",
        new,
    )


def test_no_model_is_a_message_and_the_ui_keeps_working(
    ui_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bgart.ledger import Project

    monkeypatch.setenv("BGART_MODEL", "no-such-model")
    with Project.open(ui_project) as project:
        studio = Studio(project)  # the real loader
        with pytest.raises(BgartError, match=r"^no model: "):
            studio.generate(req("alice"), SHOT, "street", "street", 0, 1)
        assert studio.open_shot(SHOT).status == "no plate"  # nothing recorded


def test_gpu_busy_is_a_message(studio: Studio) -> None:
    studio.busy_timeout = 0.01
    with studio._gpu, pytest.raises(BgartError, match="GPU busy"):  # the GPU is taken
        studio.generate(req("alice"), SHOT, "street", "street", 0, 1)
    assert studio.project.ledger.events(kinds=("ai.generated",)) == []


def test_a_gpu_taken_by_another_process_is_a_message(ui_project: Path) -> None:
    from bgart.ledger import Project

    def loader(_settings: object) -> object:
        raise RuntimeError("CUDA error: all CUDA-capable devices are busy or unavailable")

    with Project.open(ui_project) as project:
        studio = Studio(project, engine_loader=loader)  # type: ignore[arg-type]
        with pytest.raises(BgartError, match=r"^GPU busy: CUDA error"):
            studio.generate(req("alice"), SHOT, "street", "street", 0, 1)


def test_bad_inputs_are_refused_by_name(studio: Studio, tmp_path: Path) -> None:
    alice = req("alice")
    junk = tmp_path / "layout.png"
    junk.write_bytes(b"this is not an image")
    with pytest.raises(InputError, match="uploaded layout"):
        studio.new_shot(alice, "EP01_C002", junk)
    with pytest.raises(InputError, match="shot id"):
        studio.new_shot(alice, "../etc", junk)
    with pytest.raises(InputError, match="upload the layout"):
        studio.new_shot(alice, "EP01_C002", None)
    good = tmp_path / "c002.png"
    good.write_bytes(layout_png(200, 100))
    assert studio.new_shot(alice, "EP01_C002", good) == "EP01_C002"
    with pytest.raises(InputError, match="shot EP01_C002: already exists"):
        studio.new_shot(req("dora"), "EP01_C002", good)  # no silent swap, no credit taken
    assert [e.actor for e in studio.project.ledger.events(shot="EP01_C002")] == ["alice"]
    ev = studio.project.ledger.events(shot="EP01_C002")[0]
    assert (ev.kind, ev.actor) == ("layout.imported", "alice")
    assert "EP01_C002" in studio.shot_codes()

    with pytest.raises(InputError, match="prompt"):
        studio.generate(alice, SHOT, "street", "  ", 0, 1)
    with pytest.raises(InputError, match="variations"):
        studio.generate(alice, SHOT, "street", "street", 0, 99)
    with pytest.raises(InputError, match="seed"):
        studio.generate(alice, SHOT, "street", "street", -1, 1)
    with pytest.raises(InputError, match="unknown preset"):
        studio.generate(alice, SHOT, "no-such-style", "street", 0, 1)
    with pytest.raises(InputError, match="no shot chosen"):
        studio.generate(alice, None, "street", "street", 0, 1)
    with pytest.raises(InputError, match="not in this project"):
        studio.open_shot("EP99_C999")
    with pytest.raises(InputError, match="no variation picked"):
        studio.choose(alice, SHOT, None)
    with pytest.raises(InputError, match=r"has no image yet|no plate"):
        studio.save_paint(
            alice, SHOT, _editor_value(Image.new("RGB", (PLATE_W, PLATE_H)), (0, 0, 9, 9))
        )
    top = 2**32 - 1  # the variations take seed, seed + 1, …: never one seed twice
    too_high = rf"seed \(with 3 variations\): {top - 1} must be .* to {top - 2}"
    with pytest.raises(InputError, match=too_high):
        studio.generate(alice, SHOT, "street", "street", top - 1, 3, steps=2)
    studio.generate(alice, SHOT, "street", "street", 0, 1, steps=2)
    with pytest.raises(InputError, match="nothing painted"):
        studio.save_paint(alice, SHOT, None)
    small = _editor_value(Image.new("RGB", (64, 64)), (0, 0, 9, 9))
    with pytest.raises(InputError, match="64x64"):
        studio.save_paint(alice, SHOT, small)
    with pytest.raises(InputError, match=r"mask is empty|nothing painted"):
        studio.ai_fix(alice, SHOT, {"layers": [Image.new("RGBA", (PLATE_W, PLATE_H))]}, "x", 0)
    with pytest.raises(InputError, match="no version"):
        studio.undo(alice, SHOT, 42)
    with pytest.raises(InputError, match=r"version: 1\.5 must be a whole number"):
        studio.undo(alice, SHOT, 1.5)  # not quietly v1


def test_a_shot_list_brings_its_layouts_and_defaults(studio: Studio, tmp_path: Path) -> None:
    folder = tmp_path / "list"
    folder.mkdir()
    (folder / "c010.png").write_bytes(layout_png())
    (folder / "shots.csv").write_text(
        "shot,layout,prompt,preset,width,height,variations,seed,photo,layout_artist,notes\n"
        "EP01_C010,c010.png,harbour at noon,street,96,72,3,1234,,Ito Ken,\n",
        encoding="utf-8",
    )
    assert studio.import_shot_list(folder / "shots.csv") == ["EP01_C010"]
    assert studio.import_shot_list(folder / "shots.csv") == ["EP01_C010"]  # idempotent
    assert studio.shot_codes()[0] == "EP01_C010"
    view = studio.open_shot("EP01_C010")
    assert (view.prompt, view.preset, view.seed, view.variations) == (
        "harbour at noon",
        "street",
        1234,
        3,
    )
    assert (view.width, view.height) == (96, 72)
    events = studio.project.ledger.events(shot="EP01_C010")
    assert [(ev.kind, ev.actor) for ev in events] == [("layout.imported", "Ito Ken")]


# --- the page ------------------------------------------------------------------------------


def test_the_app_builds_and_errors_become_messages(studio: Studio) -> None:
    import gradio as gr
    from bgart.ui.app import _guarded, build_app

    demo = build_app(studio)
    assert isinstance(demo, gr.Blocks)
    status = gr.Markdown()

    @_guarded(status)
    def broken(shot: str) -> dict:
        raise InputError(f"shot {shot}: plate 'main' has no image yet")

    @_guarded(status)
    def buggy() -> dict:
        raise ZeroDivisionError("oops")

    with pytest.warns(UserWarning, match="no image yet"):  # gr.Warning outside a request
        assert broken(SHOT) == {status: "⚠ shot EP01_C001: plate 'main' has no image yet"}
    with pytest.warns(UserWarning, match="internal error"):
        assert buggy()[status].startswith("⚠ internal error: ZeroDivisionError")
    # Through the wrapper gradio still finds the gr.Request (the logged-in user) and the
    # progress tracker of the app's callbacks.
    from gradio.utils import get_type_hints

    fns = {block_fn.fn.__name__: block_fn.fn for block_fn in demo.fns.values() if block_fn.fn}
    for name in (
        "on_generate",
        "on_use",
        "on_save",
        "on_fix",
        "on_undo",
        "on_submit",
        "on_accept",
        "on_reject",
        "on_new_shot",
        "on_load",
    ):
        assert get_type_hints(fns[name])["request"] is gr.Request, name
    assert isinstance(
        inspect.signature(fns["on_generate"]).parameters["progress"].default, gr.Progress
    )


# --- starting the server and managing users ------------------------------------------------


def test_binding_beyond_loopback_needs_logins() -> None:
    from bgart.ui.server import check_bind, is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert is_loopback("[::1]") and not is_loopback("0.0.0.0") and not is_loopback("192.0.2.7")
    check_bind("127.0.0.1", auth=False)
    check_bind("0.0.0.0", auth=True)
    with pytest.raises(InputError, match="not a loopback address"):
        check_bind("0.0.0.0", auth=False)


def test_server_plan_refuses_a_project_nobody_can_log_in_to(tmp_path: Path) -> None:
    from bgart.ui.server import UI_DIR, plan

    from bgart.ledger import Project

    with Project.init(tmp_path / "empty") as project:
        project.ledger.add_user("Sato Yuki", "artist")  # credited only, no password
    with pytest.raises(InputError, match="no user can log in"):
        plan(tmp_path / "empty")
    with Project.open(tmp_path / "empty") as project:
        project.ledger.add_user("root", "admin", "root-secret-1")
    p = plan(tmp_path / "empty", "127.0.0.1", 7861)
    assert p.ui_dir == p.project.root / UI_DIR
    assert str(p.project.root / "bgart.db") in p.blocked
    with pytest.raises(InputError, match="port"):
        plan(tmp_path / "empty", "127.0.0.1", 70000)
    p.project.close()


def test_users_cli_adds_and_lists_with_hashed_passwords(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bgart.cli import main
    from bgart.ledger import Project

    Project.init(tmp_path / "p").close()
    monkeypatch.setattr("sys.stdin", io.StringIO("hunter2-but-longer\n"))
    assert (
        main(
            [
                "users",
                "add",
                "kim",
                "--role",
                "director",
                "--password-stdin",
                "--project",
                str(tmp_path / "p"),
            ]
        )
        == 0
    )
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["users", "add", "lee", "--password-stdin", "--project", str(tmp_path / "p")]) != 0
    assert (
        main(
            [
                "users",
                "add",
                "lee",
                "--role",
                "boss",
                "--password-stdin",
                "--project",
                str(tmp_path / "p"),
            ]
        )
        != 0
    )
    assert main(["users", "list", "--project", str(tmp_path / "p")]) == 0
    out = capsys.readouterr()
    assert "kim\tdirector\tcan log in" in out.out
    assert "password shorter than 8" in out.err and "--role boss" in out.err
    with Project.open(tmp_path / "p") as project:
        user = project.ledger.user("kim")
        assert user is not None and "hunter2" not in (user.password_hash or "")
        assert project.ledger.check_password("kim", "hunter2-but-longer")
        assert project.ledger.user("lee") is None
