"""`bgart init` and `bgart ledger …` commands."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import typer
from helpers.images import generated_png, natural_plate, stroke_layer
from PIL import Image
from sqlalchemy import text
from typer.testing import CliRunner

from bgart import plates as wf
from bgart.cli.project import init_command, ledger_app, review_command
from bgart.ledger import Project

W, H = 64, 48
SHOT = "ep03_c007"

app = typer.Typer()
app.command("init")(init_command)
app.command("review")(review_command)
app.add_typer(ledger_app, name="ledger")
runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "show"
    code, out, _ = run("init", str(root), "--production", "Night Train")
    assert code == 0 and "Night Train" in out
    with Project.open(root) as project:
        png, rec = generated_png(natural_plate(W, H))
        wf.record_generated(project, SHOT, png, rec, "aki")
    return root


def test_init_twice_fails_with_one_line(root: Path) -> None:
    code, _, err = run("init", str(root))
    assert code == 2 and err.strip().startswith("error:") and "already a bgart project" in err
    assert len(err.strip().splitlines()) == 1


def test_import_paint_and_show(root: Path, tmp_path: Path) -> None:
    layer = tmp_path / "strokes.png"
    Image.fromarray(stroke_layer((H, W), (0, 0, W // 2, H // 2), (255, 0, 255)), "RGBA").save(layer)
    code, out, err = run(
        "ledger",
        "import-paint",
        SHOT,
        "--layer",
        str(layer),
        "--artist",
        "Mika",
        "--project",
        str(root),
        "--seconds",
        "60",
    )
    assert code == 0, err
    assert "human paint 25.00%" in out
    code, out, _ = run("ledger", "show", SHOT, "-p", str(root))
    assert code == 0
    assert "human_paint_share" in out and "25.00%" in out and "painted by Mika" in out
    assert "human.painted" in out and "ai.generated" in out
    code, out, _ = run("ledger", "show", SHOT, "-p", str(root), "--json")
    data = json.loads(out)
    assert data["plates"]["main"]["human_paint_share"] == 0.25
    assert [e["kind"] for e in data["events"]] == ["ai.generated", "human.painted"]
    assert data["events"][1]["payload"]["source"] == "layer"
    assert "original" in data["events"][1]["blobs"]


def test_import_final_quadrant(root: Path, tmp_path: Path) -> None:
    final = natural_plate(W, H)
    final[H // 2 :, : W // 2] = 255 - final[H // 2 :, : W // 2]
    path = tmp_path / "final.png"
    Image.fromarray(final).save(path)
    code, _, err = run(
        "ledger", "import-final", SHOT, str(path), "--artist", "Mika", "-p", str(root)
    )
    assert code == 0, err
    with Project.open(root) as project:
        assert wf.plate_figures(project, SHOT)["human_paint_share"] == pytest.approx(
            0.25, abs=0.005
        )


def test_import_errors_name_the_file(root: Path, tmp_path: Path) -> None:
    bad = tmp_path / "small.png"
    Image.fromarray(np.zeros((5, 5, 4), np.uint8), "RGBA").save(bad)
    code, _, err = run(
        "ledger", "import-paint", SHOT, "--layer", str(bad), "--artist", "M", "-p", str(root)
    )
    assert code == 2 and "small.png" in err and "5x5" in err
    code, _, err = run(
        "ledger", "import-final", SHOT, str(tmp_path / "nope.png"), "--artist", "M", "-p", str(root)
    )
    assert code == 2 and "nope.png: no such file" in err


def test_verify_ok_then_tampered(root: Path) -> None:
    code, out, _ = run("ledger", "verify", "-p", str(root))
    assert code == 0 and out.startswith("ledger ok: 1 events")
    with Project.open(root) as project:
        wf.accept(project, SHOT, "director")
        with project.ledger.engine.begin() as conn:
            conn.execute(text("UPDATE events SET actor = 'someone else' WHERE seq = 2"))
    code, _, err = run("ledger", "verify", "-p", str(root))
    assert code == 3
    assert "event #2 (id" in err and "plate.accepted" in err and "edited" in err


def test_heatmap_command(root: Path, tmp_path: Path) -> None:
    out_path = tmp_path / "heat.png"
    code, _, _ = run("ledger", "heatmap", SHOT, "-o", str(out_path), "-p", str(root))
    assert code == 0 and out_path.exists()
    assert Image.open(out_path).width == W


@pytest.mark.parametrize("command", ["heatmap", "export"])
def test_an_output_that_cannot_be_written_is_named(
    root: Path, tmp_path: Path, command: str
) -> None:
    """A folder in the way of the file: one line naming it, and nothing written beside it."""
    in_the_way = tmp_path / "outputs" / "out.png"
    in_the_way.mkdir(parents=True)
    code, _, err = run("ledger", command, SHOT, "-o", str(in_the_way), "-p", str(root))
    assert code != 0 and f"{in_the_way}: cannot write" in err, err
    assert len(err.strip().splitlines()) == 1 and in_the_way.is_dir()
    assert [p.name for p in in_the_way.parent.iterdir()] == ["out.png"]


def test_commands_outside_a_project(tmp_path: Path) -> None:
    code, _, err = run("ledger", "verify", "-p", str(tmp_path))
    assert code == 2 and "not a bgart project" in err and str(tmp_path) in err


def test_project_from_environment(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BGART_PROJECT_DIR", str(root))
    code, out, _ = run("ledger", "verify")
    assert code == 0 and "ledger ok" in out


def test_show_unknown_shot(root: Path) -> None:
    code, _, err = run("ledger", "show", "nope", "-p", str(root))
    assert code == 2 and "shot nope: no events" in err


def test_review_accepts_only_for_directors_and_rejects_need_a_comment(root: Path) -> None:
    with Project.open(root) as project:
        project.ledger.add_user("Sato", "director")
        project.ledger.add_user("aki", "artist")
    code, _, err = run("review", SHOT, "--by", "aki", "-p", str(root))
    assert code == 2 and "only directors and admins" in err and "aki" in err
    code, _, err = run("review", SHOT, "--by", "Nobody", "-p", str(root))
    assert code == 2 and "'Nobody'" in err and "bgart users add" in err
    code, _, err = run("review", SHOT, "--by", "Sato", "--reject", "-p", str(root))
    assert code == 2 and "say what to change" in err
    with Project.open(root) as project:
        assert wf.shot_status(project, SHOT) != "accepted"  # nothing was recorded by refusals

    code, out, err = run(
        "review", SHOT, "--by", "Sato", "--reject", "-m", "warmer sky", "-p", str(root)
    )
    assert code == 0, err
    assert "plate.rejected" in out
    with Project.open(root) as project:
        assert wf.shot_status(project, SHOT) == "rejected"
    code, out, err = run("review", SHOT, "--by", "Sato", "--version", "2", "-p", str(root))
    assert code == 2 and "no v2" in err and "the latest is v1" in err
    with Project.open(root) as project:
        assert wf.shot_status(project, SHOT) == "rejected"  # nothing recorded
    code, out, err = run("review", SHOT, "--by", "Sato", "--version", "1", "-p", str(root))
    assert code == 0, err
    assert "plate.accepted" in out and "v1" in out
    with Project.open(root) as project:
        assert wf.shot_status(project, SHOT) == "accepted"
    code, out, _ = run("ledger", "show", SHOT, "-p", str(root), "--json")
    kinds = [e["kind"] for e in json.loads(out)["events"]]
    assert kinds[-2:] == ["plate.rejected", "plate.accepted"]


def test_review_of_a_shot_without_a_plate_names_the_shot(root: Path) -> None:
    with Project.open(root) as project:
        project.ledger.add_user("Sato", "director")
    code, _, err = run("review", "ep03_c999", "--by", "Sato", "-p", str(root))
    assert code == 2 and "ep03_c999" in err


def test_verify_recomputes_only_what_is_new_since_the_last_clean_run(
    root: Path, tmp_path: Path
) -> None:
    code, out, err = run("ledger", "verify", "-p", str(root))
    assert code == 0, err
    assert "recomputed on this machine" not in out
    layer = tmp_path / "strokes.png"
    Image.fromarray(stroke_layer((H, W), (0, 0, W // 2, H // 2), (0, 0, 255)), "RGBA").save(layer)
    assert (
        run(
            "ledger",
            "import-paint",
            SHOT,
            "--layer",
            str(layer),
            "--artist",
            "Mika",
            "-p",
            str(root),
        )[0]
        == 0
    )
    code, out, err = run("ledger", "verify", "-p", str(root))
    assert code == 0, err
    assert "rasters recomputed for the 1 plate versions after event #1" in out
    code, out, err = run("ledger", "verify", "-p", str(root), "--fresh")
    assert code == 0, err
    assert "recomputed on this machine" not in out
    code, out, _ = run("ledger", "verify", "-p", str(root))
    assert "for the 0 plate versions after event #2" in out


def test_import_final_on_a_new_shot_keeps_seconds_and_original(root: Path, tmp_path: Path) -> None:
    path = tmp_path / "handmade.png"
    Image.fromarray(natural_plate(W, H, 4)).save(path)
    code, _, err = run(
        "ledger",
        "import-final",
        "ep03_c100",
        str(path),
        "--artist",
        "Mika",
        "--seconds",
        "3600",
        "-p",
        str(root),
    )
    assert code == 0, err
    code, out, _ = run("ledger", "show", "ep03_c100", "-p", str(root), "--json")
    data = json.loads(out)
    assert data["plates"]["main"]["active_seconds"] == 3600.0
    (ev,) = data["events"]
    assert ev["kind"] == "plate.imported" and ev["payload"]["active_seconds"] == 3600.0
    with Project.open(root) as project:
        assert project.blobs.get(ev["blobs"]["original"]) == path.read_bytes()
    code, out, _ = run("ledger", "show", "ep03_c100", "-p", str(root))
    assert "active 3600 s" in out
    assert run("ledger", "verify", "-p", str(root))[0] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [(("--artist", "Mika", "--seconds", "-5"), "active seconds"), (("--artist", ""), "empty")],
)
def test_import_final_refused_on_a_new_shot_leaves_no_shot(
    root: Path, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    path = tmp_path / "handmade.png"
    Image.fromarray(natural_plate(W, H, 4)).save(path)
    code, _, err = run("ledger", "import-final", "ep03_c100", str(path), *args, "-p", str(root))
    assert code == 2 and message in err
    code, _, err = run("ledger", "show", "ep03_c100", "-p", str(root))
    assert code == 2 and "no events" in err
    with Project.open(root) as project:
        assert wf.shot_codes(project) == [SHOT]


def test_verify_while_another_process_saves_stays_ok(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A save committed while verify runs (after it read the events, before it checks the
    head and the tables) is no tamper alarm: it is left to the next run."""
    from bgart.ledger import Ledger

    rows = Ledger.iter_rows

    def rows_then_a_save(self: Ledger, *args: object, **kwargs: object) -> object:
        yield from rows(self, *args, **kwargs)
        with Project.open(root) as other:
            png, rec = generated_png(natural_plate(W, H, 9))
            wf.record_generated(other, "ep03_c008", png, rec, "aki")

    monkeypatch.setattr(Ledger, "iter_rows", rows_then_a_save)
    code, out, err = run("ledger", "verify", "-p", str(root))
    assert code == 0, err
    assert out.startswith("ledger ok: 1 events")
    monkeypatch.undo()
    code, out, err = run("ledger", "verify", "-p", str(root))
    assert code == 0, err
    assert out.startswith("ledger ok: 2 events")


def test_verify_refuses_a_ledger_replaced_by_an_empty_database(root: Path) -> None:
    import sqlite3

    db = root / "bgart.db"
    db.unlink()
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE notes (x)")
    con.commit()
    con.close()
    before = db.read_bytes()
    code, _, err = run("ledger", "verify", "-p", str(root))
    assert code == 3 and err.startswith(f"error: {db}: the ledger database has no bgart tables")
    assert "restore it from a backup" in err and len(err.strip().splitlines()) == 1
    assert db.read_bytes() == before


def test_names_in_another_encoding_are_refused_by_name(root: Path, tmp_path: Path) -> None:
    """A byte that is not UTF-8 in a name (typed in a Shift-JIS terminal) reaches Python as a
    surrogate escape: one clear line naming the field, showing the byte as U+FFFD."""
    plate = tmp_path / "final.png"
    Image.fromarray(natural_plate(W, H, 5)).save(plate)
    bad = "ep03_c0\udcff7"
    shown = "ep03_c0\ufffd7"
    cases = [
        (["ledger", "import-final", bad, str(plate), "--artist", "Mika"], f"shot '{shown}'"),
        (
            ["ledger", "import-final", SHOT, str(plate), "--artist", "Mi\udcffka"],
            "artist 'Mi\ufffdka'",
        ),
        (
            ["ledger", "import-final", SHOT, str(plate), "--artist", "M", "--plate", "bg\udcff"],
            "plate 'bg\ufffd'",
        ),
        (["ledger", "show", bad], f"shot '{shown}'"),
        (["ledger", "heatmap", bad, "-o", str(tmp_path / "h.png")], f"shot '{shown}'"),
        (["review", SHOT, "--by", "Sa\udcffto"], "approver 'Sa\ufffdto'"),
        (["review", SHOT, "--by", "Sato", "--reject", "-m", "warm\udcff"], "comment 'warm\ufffd'"),
    ]
    for args, needle in cases:
        code, _, err = run(*args, "-p", str(root))
        assert code == 2 and err.startswith(f"error: {needle}: not valid UTF-8"), (args, err)
        assert len(err.strip().splitlines()) == 1
    assert run("ledger", "verify", "-p", str(root))[1].startswith("ledger ok: 1 events")
    code, _, err = run("init", str(tmp_path / "show2"), "--production", "Night\udcff")
    assert code == 2 and err.startswith("error: production 'Night\ufffd': not valid UTF-8")
    assert not (tmp_path / "show2").exists()


def test_a_file_name_in_another_encoding_is_recorded_escaped(root: Path, tmp_path: Path) -> None:
    """背景.png saved on a Shift-JIS file system: imported, its name kept with the bytes that
    are not UTF-8 as \\xNN."""
    path = tmp_path / os.fsdecode("背景.png".encode("shift_jis"))
    Image.fromarray(natural_plate(W, H, 6)).save(path)
    code, _, err = run("ledger", "import-final", SHOT, str(path), "--artist", "M", "-p", str(root))
    assert code == 0, err
    code, out, _ = run("ledger", "show", SHOT, "-p", str(root), "--json")
    assert json.loads(out)["events"][-1]["payload"]["filename"] == "\\x94w\\x8ci.png"
    assert run("ledger", "verify", "-p", str(root))[0] == 0


@pytest.mark.parametrize("kind", ["jpeg", "rgb png", "opaque rgba png"])
def test_import_paint_refuses_a_layer_without_transparency(
    root: Path, tmp_path: Path, kind: str
) -> None:
    """A JPEG or RGB PNG handed in as a paint layer used to take over the whole plate (its
    background replacing it) and credit the artist 100 %: refused, nothing recorded."""
    rgba = stroke_layer((H, W), (0, 0, W // 2, H // 2), (255, 0, 255))
    rgba[..., 3] = 255  # what a layer saved without transparency holds
    names = {"jpeg": "paint.jpg", "rgb png": "paint.png", "opaque rgba png": "p.png"}
    path = tmp_path / names[kind]
    img = Image.fromarray(rgba, "RGBA")
    (img if kind == "opaque rgba png" else img.convert("RGB")).save(path)
    with Project.open(root) as project:
        blobs = sorted(project.blobs)
    code, out, err = run(
        "ledger", "import-paint", SHOT, "--layer", str(path), "--artist", "Mika", "-p", str(root)
    )
    assert code == 2 and not out, out
    assert err.splitlines() == [
        f"error: {path.name}: no transparent pixel (no alpha channel, or one opaque "
        "everywhere): as a paint layer it would cover the whole plate; a paint layer's alpha "
        "is its strokes, a finished plate goes in with `bgart ledger import-final`"
    ]
    with Project.open(root) as project:
        assert project.ledger.count() == 1 and sorted(project.blobs) == blobs
        assert wf.plate_figures(project, SHOT)["human_paint_share"] == 0.0


def test_shares_at_the_edges_never_read_0_or_100(tmp_path: Path) -> None:
    """Issue 18, display rules: one painted pixel of 49 152 is not "0.00%", and a plate
    painted all but one pixel is not "100.00%", in what import-paint and `ledger show` print."""
    root = tmp_path / "edges"
    assert run("init", str(root))[0] == 0
    w, h = 256, 192
    with Project.open(root) as project:
        png, rec = generated_png(natural_plate(w, h))
        wf.record_generated(project, SHOT, png, rec, "aki")
    one = np.zeros((h, w, 4), np.uint8)
    one[5, 7] = (255, 0, 255, 255)
    out = _import_layer(tmp_path / "one.png", one, "Mika", root)
    assert "human paint < 0.01%" in out and "AI generated > 99.99%" in out, out
    rest = np.zeros((h, w, 4), np.uint8)
    rest[...] = (20, 200, 40, 255)
    rest[100, 100, 3] = 0  # every pixel but one
    out = _import_layer(tmp_path / "rest.png", rest, "Rui", root)
    assert "human paint > 99.99%" in out and "AI generated < 0.01%" in out, out
    code, out, _ = run("ledger", "show", SHOT, "-p", str(root))
    assert code == 0
    line = next(x for x in out.splitlines() if "human_paint_share" in x)
    assert line.split()[-2:] == [">", "99.99%"], line
    assert "100.00%" not in out and "  0.00%" not in out.split("ai_inpaint_share")[0]


def test_export_a_version_and_hand_it_back(root: Path, tmp_path: Path) -> None:
    """`ledger export` writes a version as stored; handed back with import-final after a
    paint and a cover by others, the plate reads that version's figures again."""
    layer = tmp_path / "strokes.png"
    Image.fromarray(stroke_layer((H, W), (0, 0, W // 2, H // 2), (255, 0, 255)), "RGBA").save(layer)
    assert run("ledger", "import-paint", SHOT, "--layer", str(layer), "--artist", "Mika",
               "-p", str(root))[0] == 0  # fmt: skip
    v2 = tmp_path / "v2.png"
    code, out, err = run(
        "ledger", "export", SHOT, "--version", "2", "--out", str(v2), "-p", str(root)
    )
    assert code == 0 and "v2" in out, err
    cover = tmp_path / "cover.png"
    Image.fromarray(np.full((H, W, 3), (30, 160, 90), np.uint8)).save(cover)
    assert run("ledger", "import-final", SHOT, str(cover), "--artist", "Rui",
               "-p", str(root))[0] == 0  # fmt: skip
    code, out, err = run("ledger", "import-final", SHOT, str(v2), "--artist", "Sora",
                         "-p", str(root))  # fmt: skip
    assert code == 0, err
    assert "human paint 25.00%" in out and "credited as they were there" in out, out
    assert "pixels changed visibly" in out and "pixels credited" not in out, out  # handed back
    data = json.loads(run("ledger", "show", SHOT, "-p", str(root), "--json")[1])
    assert data["plates"]["main"]["human_paint_share"] == 0.25
    code, _, err = run(
        "ledger", "export", SHOT, "--version", "9", "--out", str(v2), "-p", str(root)
    )
    assert code != 0 and "no version 9" in err and len(err.strip().splitlines()) == 1


def _import_layer(path: Path, layer: np.ndarray, artist: str, root: Path) -> str:
    """Save an RGBA layer and import it with `bgart ledger import-paint`; its output."""
    Image.fromarray(layer, "RGBA").save(path)
    code, out, err = run(
        "ledger", "import-paint", SHOT, "--layer", str(path), "--artist", artist,
        "--project", str(root),
    )  # fmt: skip
    assert code == 0, err
    return out
