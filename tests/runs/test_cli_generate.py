"""`bgart generate` / `regenerate` as a user runs them: real subprocesses, tiny model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from bgart.generation import read_record

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_cli(
    args: list[str], env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bgart.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=cwd,
        timeout=300,
    )


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """A grey-paper pencil scan, 3:2."""
    img = Image.new("RGB", (300, 200), (200, 198, 190))
    d = ImageDraw.Draw(img)
    d.line((0, 200, 150, 80), fill=(90, 90, 90), width=3)
    d.line((300, 200, 150, 80), fill=(90, 90, 90), width=3)
    d.rectangle((30, 40, 100, 150), outline=(80, 80, 80), width=2)
    path = tmp_path / "layout.jpg"
    img.save(path, quality=90)
    return path


def test_generate_writes_a_plate_that_regenerates_byte_for_byte(
    tiny_env: dict[str, str], layout: Path, tmp_path: Path
) -> None:
    out = tmp_path / "plate.png"
    res = run_cli(
        [
            "generate",
            "--layout",
            str(layout),
            "--prompt",
            "a shopping street",
            "--preset",
            "street",
            "--seed",
            "5",
            "--steps",
            "3",
            "--width",
            "96",
            "--height",
            "64",
            "--out",
            str(out),
        ],
        tiny_env,
    )
    assert res.returncode == 0, res.stderr
    assert "on cpu" in res.stderr  # the device used is named
    assert "3/3" in res.stderr  # progress over steps
    rec = read_record(out)
    assert rec.seed == 5 and rec.preset == "street" and "shopping street" in rec.prompt
    again = tmp_path / "again.png"
    res = run_cli(
        ["regenerate", str(out), "--layout", str(layout), "--out", str(again), "--check"], tiny_env
    )
    assert res.returncode == 0, res.stderr
    assert again.read_bytes() == out.read_bytes()


def test_variations_and_default_size_keep_the_layout_aspect(
    tiny_env: dict[str, str], tmp_path: Path
) -> None:
    pan = tmp_path / "pan.png"
    Image.new("L", (600, 200), 210).save(pan)  # a 3:1 pan layout
    env = {**tiny_env, "BGART_WIDTH": "192", "BGART_HEIGHT": "64"}
    res = run_cli(
        [
            "generate",
            "--layout",
            str(pan),
            "--prompt",
            "river",
            "--steps",
            "2",
            "--variations",
            "2",
            "--out",
            str(tmp_path / "pan_plate.png"),
        ],
        env,
    )
    assert res.returncode == 0, res.stderr
    v1, v2 = tmp_path / "pan_plate_v1.png", tmp_path / "pan_plate_v2.png"
    with Image.open(v1) as a, Image.open(v2) as b:
        assert a.size == b.size == (192, 64)
    assert v1.read_bytes() != v2.read_bytes()


def test_regenerate_refuses_the_wrong_layout(
    tiny_env: dict[str, str], layout: Path, tmp_path: Path
) -> None:
    out = tmp_path / "p.png"
    assert (
        run_cli(
            [
                "generate",
                "--layout",
                str(layout),
                "--prompt",
                "x",
                "--steps",
                "2",
                "--width",
                "64",
                "--height",
                "64",
                "--out",
                str(out),
            ],
            tiny_env,
        ).returncode
        == 0
    )
    other = tmp_path / "other.png"
    Image.new("RGB", (64, 64), "white").save(other)
    res = run_cli(
        ["regenerate", str(out), "--layout", str(other), "--out", str(tmp_path / "r.png")], tiny_env
    )
    assert res.returncode != 0
    assert "not the layout" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--layout", "{missing}"], "no such file"),
        (["--layout", "{notimage}"], "not an image file"),
        (["--preset", "nosuchpreset"], "nosuchpreset"),
        (["--model", "nosuchmodel"], "unknown model 'nosuchmodel'"),
        (["--width", "100", "--height", "64"], "100"),
        (["--prompt", " "], "empty prompt"),
    ],
)
def test_bad_input_gives_one_clear_line(
    tiny_env: dict[str, str], layout: Path, tmp_path: Path, args: list[str], expected: str
) -> None:
    notimage = tmp_path / "notes.png"
    notimage.write_text("this is not a PNG", encoding="utf-8")
    subs = {"{missing}": str(tmp_path / "missing.png"), "{notimage}": str(notimage)}
    args = [subs.get(a, a) for a in args]
    base = {
        "--layout": str(layout),
        "--prompt": "a street",
        "--out": str(tmp_path / "o.png"),
        "--steps": "2",
    }
    for i in range(0, len(args), 2):
        base[args[i]] = args[i + 1]
    argv = ["generate"] + [x for kv in base.items() for x in kv]
    res = run_cli(argv, tiny_env)
    assert res.returncode != 0
    assert "Traceback" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: ")
    assert expected in lines[0]
    assert not (tmp_path / "o.png").exists()


@pytest.fixture
def no_model_load(tiny_settings: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process CLI runs where loading a model is a failure: a bad input must be refused
    before it (and a crash would show as `internal error`, exit 70)."""
    from bgart.generation import Engine

    def load(*_a: object, **_k: object) -> None:
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(Engine, "load", load)


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    from bgart.cli import main

    capsys.readouterr()
    code = main(argv)
    return code, [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--seed", "18446744073709551616"],
            "--seed 18446744073709551616: out of range (seeds are 0..18446744073709551615)",
        ),
        (
            ["--seed", "18446744073709551615", "--variations", "2"],
            "with 2 variations the last would be 18446744073709551616",
        ),
        (["--seed", "-9223372036854775809"], "--seed -9223372036854775809: out of range"),
        # torch would take -1 as 2**64 - 1: one image, two recorded seeds.
        (["--seed", "-1"], "--seed -1: out of range (seeds are 0..18446744073709551615)"),
        (["--steps", "0"], "--steps 0: must be 1..150"),
        (["--steps", "151"], "--steps 151: must be 1..150"),
        (["--out", "{file}/a.png"], "--out {file}/a.png: {file} is a file, not a folder"),
        (["--out", "{file}/deeper/a.png"], "{file} is a file, not a folder"),
        (["--out", "{folder}"], "--out {folder}: is a folder; name the .png file to write"),
    ],
)
def test_generate_refuses_bad_seeds_steps_and_outputs_before_loading(
    no_model_load: None,
    layout: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    expected: str,
) -> None:
    (tmp_path / "shots.csv").write_text("not a folder\n")
    (tmp_path / "plates.png").mkdir()
    subs = {"{file}": str(tmp_path / "shots.csv"), "{folder}": str(tmp_path / "plates.png")}

    def sub(text: str) -> str:
        for key, value in subs.items():
            text = text.replace(key, value)
        return text

    base = {
        "--layout": str(layout),
        "--prompt": "a street",
        "--out": str(tmp_path / "o.png"),
        "--width": "64",
        "--height": "64",
    }
    base.update({sub(k): sub(v) for k, v in zip(args[::2], args[1::2], strict=True)})
    code, lines = run_main(["generate", *[x for kv in base.items() for x in kv]], capsys)
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), lines
    assert sub(expected) in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["layout.jpg", "plates.png", "shots.csv"]


@pytest.mark.parametrize(
    ("change", "out", "expected"),
    [
        (
            {"extra": {"cpu_threads": "x"}},
            "r.png",
            "generation record: extra 'cpu_threads' is 'x', expected a whole number 1..1024",
        ),
        ({"extra": {"cpu_threads": 0}}, "r.png", "extra 'cpu_threads' is 0"),
        (
            {"extra": ["x"]},
            "r.png",
            "generation record: field 'extra' is ['x'], expected a mapping",
        ),
        (
            {"seeds": [2**70, 1]},
            "r.png",
            "generation record: seed 1180591620717411303424: out of range",
        ),
        ({"scheduler": "nope"}, "r.png", "generation record: scheduler 'nope': not one of"),
        ({"guidance": float("nan")}, "r.png", "field 'guidance' is nan, expected a finite number"),
        ({}, "{folder}", "--out {folder}: is a folder"),
        ({}, "{file}/r.png", "--out {file}/r.png: {file} is a file, not a folder"),
    ],
)
def test_regenerate_refuses_a_bad_record_or_output_before_loading(
    tiny_engine: object,
    layout: Path,
    tmp_path: Path,
    no_model_load: None,
    capsys: pytest.CaptureFixture[str],
    change: dict[str, object],
    out: str,
    expected: str,
) -> None:
    """The record is read from a PNG anyone can edit: input like any other."""
    import json

    from PIL import PngImagePlugin

    from bgart.generation import RECORD_KEY, GenerationRequest

    control = Image.new("RGB", (64, 64), "white")
    (plate,) = tiny_engine.generate(
        GenerationRequest(  # type: ignore[attr-defined]
            prompt="x", width=64, height=64, seeds=[3], layout=control, steps=1
        )
    )
    data = {**plate.record.to_dict(), **change}
    info = PngImagePlugin.PngInfo()
    info.add_text(RECORD_KEY, json.dumps(data))
    tampered = tmp_path / "tampered.png"
    plate.image.save(tampered, pnginfo=info)
    (tmp_path / "shots.csv").write_text("not a folder\n")
    (tmp_path / "plates.png").mkdir()
    subs = {"{file}": str(tmp_path / "shots.csv"), "{folder}": str(tmp_path / "plates.png")}
    for key, value in subs.items():
        out, expected = out.replace(key, value), expected.replace(key, value)
    code, lines = run_main(
        ["regenerate", str(tampered), "--layout", str(layout), "--out", str(tmp_path / out)], capsys
    )
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), lines
    assert expected in lines[0]
    assert not (tmp_path / "r.png").exists()


def test_the_engine_itself_refuses_seeds_a_generator_cannot_take(tiny_engine: object) -> None:
    """Callers other than the CLI (the UI, integrations) get the same clear error."""
    from bgart.errors import InputError
    from bgart.generation import GenerationRequest, InpaintRequest

    white = Image.new("RGB", (64, 64), "white")
    with pytest.raises(InputError, match=r"^seed 18446744073709551616: out of range"):
        tiny_engine.generate(
            GenerationRequest(  # type: ignore[attr-defined]
                prompt="x", width=64, height=64, seeds=[1, 2**64], layout=white, steps=1
            )
        )
    with pytest.raises(InputError, match=r"^seed -1: out of range"):
        tiny_engine.inpaint(
            InpaintRequest(  # type: ignore[attr-defined]
                image=white, mask=white, prompt="x", seed=-1, steps=1
            )
        )


def test_a_render_that_cannot_be_written_is_kept_and_the_error_says_where(
    tiny_settings: object, layout: Path, tmp_path: Path
) -> None:
    """The output becomes unwritable while the model renders (here: a folder appears where
    the PNG goes; a full disk alike): one clear line, and the render is not lost."""
    from bgart.errors import InputError
    from bgart.runs.generate import GenerateJob, run_generate

    out = tmp_path / "plate.png"

    def in_the_way(done: int, total: int) -> None:
        out.mkdir(exist_ok=True)

    job = GenerateJob(
        layout=layout, prompt="a street", out=out, seed=3, steps=2, width=64, height=64
    )
    with pytest.raises(InputError, match=r"--out .*plate\.png: cannot write .*kept as ") as info:
        run_generate(job, say=lambda _m: None, progress=in_the_way)
    kept = Path(str(info.value).rsplit("kept as ", 1)[1])
    try:
        assert read_record(kept).seed == 3  # the whole render, its recipe included
    finally:
        kept.unlink()


@pytest.mark.parametrize("how", ["same path", "another spelling", "hard link", "symlink"])
def test_generate_refuses_to_write_the_plate_over_its_layout_or_photo(
    no_model_load: None, layout: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    """`--out cut12.png` beside `--layout cut12.png` would replace the artist's scan with
    the plate: refused in one line before the model loads, the scan untouched."""
    scan = tmp_path / "cut12.png"
    Image.new("RGB", (96, 64), (200, 198, 190)).save(scan)
    photo = tmp_path / "photo.png"
    Image.new("RGB", (96, 64), (20, 90, 160)).save(photo)
    before = {p.name: p.read_bytes() for p in (scan, photo)}
    out = {
        "same path": scan,
        "another spelling": tmp_path / "sub" / ".." / "cut12.png",
        "hard link": tmp_path / "link.png",
        "symlink": tmp_path / "sym.png",
    }[how]
    (tmp_path / "sub").mkdir()
    if how == "hard link":
        os.link(scan, out)
    elif how == "symlink":
        out.symlink_to(scan)
    code, lines = run_main(
        [
            "generate",
            "--layout",
            str(scan),
            "--prompt",
            "a street",
            "--out",
            str(out),
            "--width",
            "64",
            "--height",
            "64",
        ],
        capsys,
    )
    assert code == 2 and len(lines) == 1, lines
    assert lines[0] == f"error: --out {out}: is the --layout file; the plate would replace it"
    code, lines = run_main(
        [
            "generate",
            "--layout",
            str(layout),
            "--photo",
            str(photo),
            "--prompt",
            "a street",
            "--out",
            str(photo),
            "--width",
            "64",
            "--height",
            "64",
        ],
        capsys,
    )
    assert code == 2 and lines == [
        f"error: --out {photo}: is the --photo file; the plate would replace it"
    ], lines
    # a variation's name counts too: --out cut.png --variations 2 writes cut_v1.png, cut_v2.png
    v2 = tmp_path / "cut_v2.png"
    v2.write_bytes(scan.read_bytes())
    code, lines = run_main(
        [
            "generate",
            "--layout",
            str(v2),
            "--prompt",
            "a street",
            "--out",
            str(tmp_path / "cut.png"),
            "--variations",
            "2",
            "--width",
            "64",
            "--height",
            "64",
        ],
        capsys,
    )
    assert code == 2 and lines == [
        f"error: --out {v2}: is the --layout file; the plate would replace it"
    ], lines
    assert {p.name: p.read_bytes() for p in (scan, photo)} == before
    assert not (tmp_path / "cut_v1.png").exists()


def test_regenerate_check_refuses_to_write_over_the_plate_it_checks(
    tiny_engine: object,
    layout: Path,
    tmp_path: Path,
    no_model_load: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`regenerate p.png --out p.png --check` used to overwrite the plate, then compare the
    new bytes with themselves and always say "identical": now refused, the plate kept."""
    from bgart.generation import GenerationRequest

    (plate,) = tiny_engine.generate(
        GenerationRequest(  # type: ignore[attr-defined]
            prompt="x", width=64, height=64, seeds=[3], layout=Image.new("RGB", (64, 64)), steps=1
        )
    )
    path = tmp_path / "p.png"
    path.write_bytes(plate.png())
    original = path.read_bytes()
    for out, what in ((path, "plate being regenerated"), (layout, "--layout file")):
        code, lines = run_main(
            ["regenerate", str(path), "--layout", str(layout), "--out", str(out), "--check"], capsys
        )
        assert code == 2 and lines == [
            f"error: --out {out}: is the {what}; the plate would replace it"
        ], lines
    assert path.read_bytes() == original


def test_regenerate_compares_with_the_plate_as_it_was_before_writing(
    tiny_settings: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The comparison uses the plate's bytes read before the output is written (a caller
    of the library that writes over the plate still gets a true answer)."""
    from bgart.generation import Engine, GenerationRequest
    from bgart.runs import generate

    engine = Engine.load(tiny_settings)  # type: ignore[arg-type]
    (first,) = engine.generate(
        GenerationRequest(prompt="x", width=64, height=64, seeds=[3], steps=1)
    )
    plate = tmp_path / "p.png"
    plate.write_bytes(first.png())
    monkeypatch.setattr(generate.Engine, "load", lambda *_a, **_k: engine)
    # another machine's render of the same record: different bytes
    real = generate.regenerate
    monkeypatch.setattr(
        generate,
        "regenerate",
        lambda *a, **k: type(first)(
            real(*a, **k).image.transpose(Image.Transpose.FLIP_LEFT_RIGHT), first.record
        ),
    )
    monkeypatch.setattr(generate, "_check_not_inputs", lambda *_a: None, raising=False)
    assert (
        generate.run_regenerate(
            plate, plate, layout=None, photo=None, project=None, say=lambda _m: None
        )
        is False
    )


@pytest.mark.parametrize(
    ("project", "shot", "expected"),
    [
        ("{folder}", "C001", "{folder}: not a bgart project (no bgart.toml"),
        ("{missing}", "C001", "{missing}: not a bgart project"),
        ("{project}", " ", "--shot ' ': not a usable shot id"),
        ("{project}", "C\x01", "not a usable shot id"),
        ("{nodb}", "C001", "{nodb}/bgart.db: the ledger database is missing"),
    ],
)
def test_generate_refuses_a_bad_project_or_shot_before_rendering(
    no_model_load: None,
    layout: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    project: str,
    shot: str,
    expected: str,
) -> None:
    """`--project ep01-shwo --shot C001` (a typo) used to render every step, write the
    PNG, then fail "not a bgart project" (and render with the default settings, not the
    project's): now refused in one line before the model loads, nothing written."""
    from bgart.ledger import Project

    Project.init(tmp_path / "ep01-show").close()
    Project.init(tmp_path / "nodb").close()
    (tmp_path / "nodb" / "bgart.db").unlink()
    (tmp_path / "ep01-shwo").mkdir()
    subs = {
        "{folder}": str(tmp_path / "ep01-shwo"),
        "{missing}": str(tmp_path / "ep01"),
        "{project}": str(tmp_path / "ep01-show"),
        "{nodb}": str(tmp_path / "nodb"),
    }
    for key, value in subs.items():
        project, expected = project.replace(key, value), expected.replace(key, value)
    listing = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    out = tmp_path / "plate.png"
    code, lines = run_main(
        [
            "generate",
            "--layout",
            str(layout),
            "--prompt",
            "a street",
            "--out",
            str(out),
            "--width",
            "64",
            "--height",
            "64",
            "--project",
            project,
            "--shot",
            shot,
        ],
        capsys,
    )
    assert code != 0 and len(lines) == 1 and lines[0].startswith("error: "), lines
    assert expected in lines[0]
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == listing


def _bbox(mask: object) -> tuple[int, int, int, int]:
    import numpy as np

    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def _same_place(control: Image.Image, init: Image.Image) -> None:
    """The drawn rectangle: white lines in the ControlNet image, dark in the photo."""
    import numpy as np

    lines = _bbox(np.asarray(control.convert("L")) > 128)
    photo = _bbox(np.asarray(init.convert("L")) < 100)
    assert all(abs(a - b) <= 2 for a, b in zip(lines, photo, strict=True)), (lines, photo)


@pytest.mark.parametrize("size", [(128, 128), (192, 64)])
def test_photo_and_layout_land_in_the_same_place_on_a_plate_of_another_aspect(
    tiny_engine: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: tuple[int, int]
) -> None:
    """With --photo, --layout and a plate size of another aspect, the layout was fitted
    with padding but the photo cropped to fill: a building in both landed in different
    places in the ControlNet image and the img2img image. Now both are placed alike by
    generate, batch and regenerate (and the plate still regenerates byte for byte)."""
    from bgart.inputs import load_shot_list
    from bgart.runs import batch, generate, plate_request
    from bgart.runs.generate import GenerateJob, run_generate
    from bgart.settings import load_settings

    layout, photo = tmp_path / "layout.png", tmp_path / "photo.png"
    for path, paper, ink in (
        (layout, (205, 200, 190), (70, 70, 70)),
        (photo, (150, 190, 230), (30, 20, 10)),
    ):
        img = Image.new("RGB", (300, 200), paper)
        ImageDraw.Draw(img).rectangle((30, 40, 100, 150), outline=ink, width=4)
        img.save(path)
    width, height = size

    class Captured(Exception):
        pass

    class Capture:
        def generate(self, req: object, progress: object = None) -> None:
            self.req = req
            raise Captured

    capture = Capture()
    monkeypatch.setattr(generate.Engine, "load", lambda *_a, **_k: capture)
    job = GenerateJob(
        layout=layout,
        prompt="a street",
        out=tmp_path / "p.png",
        steps=2,
        width=width,
        height=height,
        photo=photo,
    )
    with pytest.raises(Captured):
        run_generate(job, say=lambda _m: None)
    req = capture.req  # type: ignore[attr-defined]
    _same_place(req.layout, req.photo)

    shots = tmp_path / "shots.csv"
    shots.write_text(
        "shot,layout,prompt,preset,width,height,variations,seed,photo,"
        f"layout_artist,notes\nC001,layout.png,a street,,{width},{height},1,0,"
        "photo.png,Sato,\n",
        encoding="utf-8",
    )
    settings = load_settings()
    shot_list = load_shot_list(shots, settings)
    plan = batch.plan_shot(shot_list.shots[0], shot_list, tmp_path, settings, settings.model, 2)
    preset = shot_list.presets[shot_list.shots[0].preset]
    batch_req = plate_request(batch.shot_request(plan, shot_list, 2), preset)
    assert batch_req.photo.tobytes() == req.photo.tobytes()
    assert batch_req.layout.tobytes() == req.layout.tobytes()

    monkeypatch.setattr(generate.Engine, "load", lambda *_a, **_k: tiny_engine)
    (plate,) = run_generate(job, say=lambda _m: None)
    again = tmp_path / "again.png"
    assert generate.run_regenerate(
        plate, again, layout=layout, photo=photo, project=None, say=lambda _m: None
    )


@pytest.mark.parametrize(
    "argv", [["ledger", "history"], ["nosuch"], ["generate", "--steps", "abc", "--prompt", "x"]]
)
def test_a_mistyped_command_is_a_usage_error_not_an_internal_error(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Newer typer raises its own copy of click's usage errors: they were reported as
    "internal error" (exit 70, as for a bug) instead of click's usage message (exit 2)."""
    from bgart.cli import main

    assert main(argv) == 2
    out = capsys.readouterr()
    text = out.out + out.err
    assert "Usage:" in text and "Error:" in text
    assert "internal error" not in text


def test_paths_written_with_a_tilde_after_an_equals_sign_are_the_home_folder(
    tiny_env: dict[str, str], layout: Path, tmp_path: Path
) -> None:
    """`--out=~/plates/c.png`: no shell expands that ~, and bgart made a folder named '~'."""
    res = run_cli(
        [
            "generate",
            f"--layout=~/{layout.name}",
            "--prompt",
            "x",
            "--steps",
            "1",
            "--width",
            "64",
            "--height",
            "64",
            "--out=~/plates/c.png",
        ],
        {**tiny_env, "HOME": str(tmp_path)},
    )
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "plates" / "c.png").is_file()
    assert not list(Path.cwd().glob("~"))
