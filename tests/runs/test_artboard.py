"""Art boards (issue 23): references through the tiny IP-Adapter, drift scores on the contact
sheet grouped by location, a location's shared seed, and 兼用 (a reused layout) taking the
accepted plate with its credits — all through the CLI, as a production would run them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers.adapters import adapter_model_env
from helpers.cli import run_in_process
from PIL import Image, ImageDraw

pytestmark = pytest.mark.slow

HEADER = "shot,layout,prompt,preset,width,height,variations,seed,layout_artist,location\n"
ROWS = [
    "EP01_C001,layouts/river.png,river bank,street,64,64,2,,Sato Yuki,riverside",
    "EP01_C002,layouts/street.png,shopping street,street,64,64,1,,Tanaka Haruto,",
    "EP01_C003,layouts/bridge.png,bridge over the river,street,64,64,1,,Sato Yuki,riverside",
]


@pytest.fixture(scope="module")
def adapter_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Tiny SD1.5 + ControlNet + IP-Adapter (with its CLIP image encoder), pulled."""
    return adapter_model_env(tmp_path_factory.mktemp("tiny-adapter"))


def _layout(path: Path, k: int) -> None:
    img = Image.new("RGB", (96, 64), (235, 232, 225))
    d = ImageDraw.Draw(img)
    d.line((0, 60, 96, 10 + 17 * k), fill=(60, 60, 60), width=3)
    d.ellipse((10 + 25 * k, 8, 40 + 25 * k, 40), outline=(40, 40, 40), width=3)
    img.save(path)


def _board(path: Path) -> None:
    img = Image.new("RGB", (80, 60), (40, 90, 170))
    ImageDraw.Draw(img).rectangle((10, 30, 70, 58), fill=(230, 140, 40))
    img.save(path)


def bgart(env: dict[str, str], *args: str, rc: int = 0) -> str:
    result = run_in_process(list(args), env)
    assert result.returncode == rc, result.show()
    return result.stdout + result.stderr


def _record(png: Path) -> dict[str, Any]:
    from bgart.generation import read_record

    return read_record(png).to_dict()


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory, adapter_env: dict[str, str]) -> Path:
    """A project whose riverside board is Mori Aki's, a shot list of two riverside cuts and
    one street cut, rendered by `bgart batch`."""
    folder = tmp_path_factory.mktemp("artboard")
    (folder / "layouts").mkdir()
    for k, name in enumerate(("river", "street", "bridge")):
        _layout(folder / "layouts" / f"{name}.png", k)
    _board(folder / "board.png")
    (folder / "ep01.csv").write_text(HEADER + "\n".join(ROWS) + "\n", encoding="utf-8")
    project = folder / "show"
    bgart(adapter_env, "init", str(project), "--production", "Artboard test")
    add = ["users", "add", "Mori Aki", "--role", "director", "--password-stdin", "-p", str(project)]
    assert run_in_process(add, adapter_env, stdin="art-director-pw\n").returncode == 0
    with (project / "bgart.toml").open("a", encoding="utf-8") as f:
        f.write(
            "\n[artboard]\ndrift_threshold = 0.0\n[artboard.seed_policies]\nriverside = 'shared'\n"
        )
    out = bgart(
        adapter_env,
        "artboard", "add", str(folder / "board.png"),
        "--location", "riverside", "--artist", "Mori Aki", "--project", str(project),
    )  # fmt: skip
    assert "added to the location board 'riverside', by Mori Aki" in out
    out = bgart(
        adapter_env, "batch", str(folder / "ep01.csv"), "--project", str(project), "--steps", "2"
    )
    (folder / "batch.log").write_text(out, encoding="utf-8")
    return project


def test_a_board_reference_renders_is_recorded_and_regenerates_byte_identically(
    production: Path, adapter_env: dict[str, str], tmp_path: Path
) -> None:
    import hashlib

    board_sha = hashlib.sha256((production.parent / "board.png").read_bytes()).hexdigest()
    record = _record(production / "shots" / "EP01_C001" / "v2.png")
    refs = record["extra"]["references"]
    assert refs["images"] == [{"sha256": board_sha, "board": "location:riverside"}]
    assert refs["adapter"] == "tiny-ip-adapter-sd15"
    assert set(refs["files"]) == {
        "tiny-ip-adapter-sd15/models/ip-adapter_sd15.safetensors",
        "tiny-ip-adapter-sd15/models/image_encoder/model.safetensors",
    }
    assert refs["scale"] == {"up": {"block_0": [0.0, 1.0]}}  # InstantStyle's style block
    # a cut with no board is rendered and recorded as before: no references at all
    assert "references" not in _record(production / "shots" / "EP01_C002" / "v1.png")["extra"]
    again = tmp_path / "again.png"
    plate = production / "shots" / "EP01_C001" / "v2.png"
    layout = production.parent / "layouts" / "river.png"
    args = ["regenerate", str(plate), "--layout", str(layout), "--out", str(again), "--check"]
    out = bgart(adapter_env, *args, "--project", str(production))
    assert "identical to the original, byte for byte" in out
    assert again.read_bytes() == plate.read_bytes()
    # without the project, the references cannot be found: one line naming what to pass
    out = bgart(adapter_env, *args[:-3], "--out", str(tmp_path / "x.png"), rc=2)
    assert "art-board references: pass --project" in out


def test_the_board_steers_the_render(production: Path, adapter_env: dict[str, str]) -> None:
    """The same cut rendered without its board differs (the references are not ignored)."""
    from bgart.generation import Engine, read_record, regenerate
    from bgart.images import open_image
    from bgart.inputs import prepare_layout
    from bgart.runs.artboard import recorded_references
    from bgart.settings import load_settings

    plate = production / "shots" / "EP01_C001" / "v1.png"
    record = read_record(plate)
    env = {k.removeprefix("BGART_").lower(): v for k, v in adapter_env.items()}
    engine = Engine.load(load_settings(None, **env))
    drawn = open_image(production.parent / "layouts" / "river.png", mode=None)
    layout = prepare_layout(drawn, 64, 64)
    refs = recorded_references(record, production)
    assert refs is not None
    same = regenerate(engine, record, layout=layout, references=refs)
    assert same.png() == plate.read_bytes()
    blank = Image.new("RGB", (80, 60), (255, 255, 255))
    other = regenerate(engine, record, layout=layout, references=dict.fromkeys(refs, blank))
    assert other.image.tobytes() != same.image.tobytes()


def test_location_shots_share_the_seed_policy(production: Path) -> None:
    first = _record(production / "shots" / "EP01_C001" / "v1.png")["seeds"]
    bridge = _record(production / "shots" / "EP01_C003" / "v1.png")["seeds"]
    street = _record(production / "shots" / "EP01_C002" / "v1.png")["seeds"]
    assert bridge[0] == first[0]  # riverside: seed_policy "shared"
    assert street[0] != first[0]


def test_contact_sheet_groups_by_location_with_drift_scores(production: Path) -> None:
    html = (production / "contact" / "ep01.html").read_text(encoding="utf-8")
    river = html.index('<h2 class="location">riverside</h2>')
    none = html.index('<h2 class="location">(no location)</h2>')
    c1, c2, c3 = (html.index(f'id="EP01_C00{k}"') for k in (1, 2, 3))
    assert river < c1 < c3 < none < c2  # riverside together, though the list interleaves
    c1_section = html[c1:c3]
    scores = [float(s.split("<")[0].split()[0]) for s in c1_section.split("drift ")[1:]]
    assert len(scores) == 2 and all(0.0 <= s <= 2.0 for s in scores)
    assert "drift" not in html[c2:]  # the street cut has no board: no score
    # the threshold is 0 in this production: every riverside plate is flagged by the batch
    log = (production.parent / "batch.log").read_text(encoding="utf-8")
    assert "DRIFT EP01_C001: v1 " in log and "DRIFT EP01_C003: v1 " in log
    assert "DRIFT EP01_C002" not in log


def test_ledger_show_and_credits_name_the_board(
    production: Path, adapter_env: dict[str, str], tmp_path: Path
) -> None:
    shown = json.loads(
        bgart(adapter_env, "ledger", "show", "EP01_C001", "--json", "-p", str(production))
    )
    drift = shown["drift"]["main"]
    assert drift["board"] == "location:riverside" and drift["over"] is True
    street = bgart(adapter_env, "ledger", "show", "EP01_C002", "--json", "-p", str(production))
    assert json.loads(street)["drift"] == {}  # made without a board: no score
    text = bgart(adapter_env, "ledger", "show", "EP01_C001", "-p", str(production))
    assert f"drift {drift['drift']:.3f} from art board location:riverside" in text
    out = tmp_path / "credits"
    bgart(
        adapter_env, "credits", "--project", str(production), "--format", "json", "--out", str(out)
    )
    report = json.loads((out / "credits.json").read_text(encoding="utf-8"))
    plates = {p["shot"]: p for p in report["plates"]}
    people = {c["name"]: c["roles"] for c in plates["EP01_C001"]["contributors"]}
    assert "art_board" in people["Mori Aki"]
    assert "Mori Aki" not in {c["name"] for c in plates["EP01_C002"]["contributors"]}


def test_a_reused_layout_is_offered_and_taken_with_its_credits(
    production: Path, adapter_env: dict[str, str], tmp_path: Path
) -> None:
    """兼用: EP01_C004 and EP01_C005 reuse EP01_C001's layout (rescanned: other bytes). The
    batch offers the accepted plate; with --reuse it takes it, and the credits follow it."""
    folder = production.parent
    river = Image.open(folder / "layouts" / "river.png").convert("RGB")
    river.putpixel((0, 0), (250, 250, 250))  # another file of the same drawing
    river.save(folder / "layouts" / "river-again.png")
    bgart(adapter_env, "review", "EP01_C001", "--by", "Mori Aki", "-p", str(production))
    rows = [
        "EP01_C004,layouts/river-again.png,river bank again,street,64,64,1,,Sato Yuki,riverside",
        "EP01_C005,layouts/river-again.png,river bank later,street,64,64,1,,Sato Yuki,riverside",
    ]
    for row in rows:
        (folder / f"{row[:9]}.csv").write_text(HEADER + row + "\n", encoding="utf-8")
    plain = ["batch", str(folder / "EP01_C004.csv"), "--project", str(production), "--steps", "2"]
    out = bgart(adapter_env, *plain)
    assert "EP01_C004 reuses EP01_C001's layout" in out and "(--reuse)" in out
    assert "1 rendered" in out  # offered, not taken: rendered as usual
    taken = ["batch", str(folder / "EP01_C005.csv"), "--project", str(production), "--steps", "2"]
    out = bgart(adapter_env, *taken, "--reuse")
    assert "EP01_C005: reuses EP01_C001's accepted plate" in out and "0 rendered" in out
    from bgart import plates
    from bgart.ledger import Project

    with Project.open(production) as project:
        accepted = plates.plate_versions(project, "EP01_C001")[-1].image_sha
        assert (production / "shots" / "EP01_C005" / "v1.png").read_bytes() == (
            project.blobs.get(accepted)
        )
    again = bgart(adapter_env, *taken, "--reuse")  # a re-run keeps it reused, renders nothing
    assert "0 rendered" in again
    out_dir = tmp_path / "credits"
    args = ["credits", "--project", str(production), "--format", "json", "--out", str(out_dir)]
    bgart(adapter_env, *args)
    report = json.loads((out_dir / "credits.json").read_text(encoding="utf-8"))
    by_shot = {p["shot"]: p for p in report["plates"]}
    source, reused = by_shot["EP01_C001"], by_shot["EP01_C005"]
    assert reused["reuses"] == "EP01_C001/main" and "reuses" not in source
    assert reused["status"] == "accepted" and reused["image_sha256"] == accepted
    for key in ("contributors", "human_paint_share", "grade", "approver", "models"):
        assert reused[key] == source[key], key
    # the end roll: Mori Aki approved and made the board, one heading (美術監督), named once
    roll = report["episodes"][0]["credit_en"]
    assert roll.count("Art Director: Mori Aki") == 1 and roll.count("Mori Aki") == 1, roll
    # the board and reuse events are on the chain like any other: the ledger verifies
    assert "ledger ok:" in bgart(adapter_env, "ledger", "verify", "-p", str(production))


def test_the_review_desk_shows_the_drift_from_the_board(
    production: Path, adapter_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The director sees each plate's drift where they review it (the UI's review desk)."""
    from bgart.ui.handlers import Studio
    from bgart.ui.review import drift_text

    from bgart.ledger import Project

    for key, value in adapter_env.items():
        monkeypatch.setenv(key, value)
    with Project.open(production) as project:
        studio = Studio(project)
        shown = drift_text(studio, "EP01_C001")
        assert "Drift from the art board (location:riverside): 0." in shown
        assert "over the production's threshold" in shown  # the test sets it to 0.0
        assert drift_text(studio, "EP01_C002") == ""  # made without a board
