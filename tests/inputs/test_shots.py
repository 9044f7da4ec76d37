"""Shot lists: CSV and YAML parsing, defaults, derived seeds, and validation that reports
every problem at once with file:line and field."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from bgart.errors import InputError
from bgart.inputs import MAX_SHOT_LIST_BYTES, ShotListError, derive_seed, load_shot_list
from bgart.settings import Settings, load_settings

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HEADER = "shot,layout,prompt,preset,width,height,variations,seed,photo,layout_artist,notes\n"


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    for key in (
        "BGART_PROJECT_DIR",
        "BGART_PROMPTS_DIR",
        "BGART_DEFAULT_PRESET",
        "BGART_WIDTH",
        "BGART_HEIGHT",
        "BGART_VARIATIONS",
    ):
        monkeypatch.delenv(key, raising=False)
    return load_settings(production="Test Show")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "layouts").mkdir()
    Image.new("L", (300, 200), 200).save(tmp_path / "layouts" / "a.png")  # 3:2
    Image.new("L", (600, 200), 200).save(tmp_path / "layouts" / "pan.png")  # 3:1
    Image.new("RGB", (64, 64), (90, 120, 200)).save(tmp_path / "photo.jpg")
    return tmp_path


def write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def test_csv_fields_defaults_and_paths(folder: Path, settings: Settings) -> None:
    path = write(
        folder,
        "ep01.csv",
        HEADER
        + "EP01_C001,layouts/a.png,street at dusk,street,256,128,2,7,photo.jpg,Sato,n\n"
        + 'EP01_C002,layouts/pan.png,"river, night",,,,,,,Tanaka Haruto,\n',
    )
    shots = load_shot_list(path, settings).shots
    a, b = shots
    assert (a.id, a.preset, a.width, a.height, a.variations, a.seed, a.line) == (
        "EP01_C001",
        "street",
        256,
        128,
        2,
        7,
        2,
    )
    assert a.layout == (folder / "layouts" / "a.png").resolve()
    assert a.photo == (folder / "photo.jpg").resolve()
    assert a.seeds("Test Show") == [7, 8]
    assert (a.layout_artist, a.notes) == ("Sato", "n")
    # blanks: default preset, project variations, the layout's aspect at the plate size
    assert (b.preset, b.variations, b.seed, b.photo) == ("base", 4, None, None)
    assert (b.width, b.height) == (768, 256) and b.prompt == "river, night"
    first = derive_seed("Test Show", "EP01_C002")
    assert b.seeds("Test Show") == [first, first + 1, first + 2, first + 3]


def test_derived_seed_is_stable_and_depends_on_production_and_shot() -> None:
    # first 4 bytes of sha256("Test Show\0EP01_C001"), big-endian: fixed forever
    assert derive_seed("Test Show", "EP01_C001") == derive_seed("Test Show", "EP01_C001")
    assert derive_seed("Test Show", "EP01_C001") != derive_seed("Other Show", "EP01_C001")
    assert derive_seed("Test Show", "EP01_C001") != derive_seed("Test Show", "EP01_C002")
    assert 0 <= derive_seed("x", "y") < 2**32
    import hashlib

    digest = hashlib.sha256(b"Test Show\x00EP01_C001").digest()
    assert derive_seed("Test Show", "EP01_C001") == int.from_bytes(digest[:4], "big")


def test_yaml_list_with_defaults_matches_csv(folder: Path, settings: Settings) -> None:
    csv_path = write(
        folder,
        "ep.csv",
        HEADER
        + "EP01_C001,layouts/a.png,street at dusk,street,256,128,2,,,Sato,\n"
        + "EP01_C002,layouts/pan.png,river,night,384,128,2,,,Sato,pan\n",
    )
    yaml_path = write(
        folder,
        "ep.yaml",
        """\
defaults:
  variations: 2
  layout_artist: Sato
shots:
  - shot: EP01_C001
    layout: layouts/a.png
    prompt: street at dusk
    preset: street
    width: 256
    height: 128
  - {shot: EP01_C002, layout: layouts/pan.png, prompt: river, preset: night,
     width: 384, height: 128, notes: pan}
""",
    )
    from_csv = load_shot_list(csv_path, settings).shots
    from_yaml = load_shot_list(yaml_path, settings).shots
    strip = [
        (
            s.id,
            s.layout,
            s.prompt,
            s.preset,
            s.width,
            s.height,
            s.variations,
            s.seed,
            s.layout_artist,
            s.notes,
        )
        for s in from_csv
    ]
    assert strip == [
        (
            s.id,
            s.layout,
            s.prompt,
            s.preset,
            s.width,
            s.height,
            s.variations,
            s.seed,
            s.layout_artist,
            s.notes,
        )
        for s in from_yaml
    ]
    assert [s.line for s in from_yaml] == [5, 11]


def test_shipped_examples_are_valid_and_equivalent(settings: Settings) -> None:
    csv_shots = load_shot_list(EXAMPLES / "shots.csv", settings).shots
    yaml_shots = load_shot_list(EXAMPLES / "shots.yaml", settings).shots
    assert len(csv_shots) >= 3
    key = [
        (
            s.id,
            s.layout,
            s.prompt,
            s.preset,
            s.width,
            s.height,
            s.variations,
            s.seed,
            s.photo,
            s.layout_artist,
            s.notes,
        )
        for s in csv_shots
    ]
    assert key == [
        (
            s.id,
            s.layout,
            s.prompt,
            s.preset,
            s.width,
            s.height,
            s.variations,
            s.seed,
            s.photo,
            s.layout_artist,
            s.notes,
        )
        for s in yaml_shots
    ]


def test_a_broken_csv_reports_every_problem_with_line_and_field(
    folder: Path, settings: Settings
) -> None:
    (folder.parent / "outside.png").write_bytes((folder / "layouts" / "a.png").read_bytes())
    rows = [
        "EP01_C001,layouts/a.png,ok,street,256,128,2,,,Sato,",  # 2: fine
        "EP01_C002,layouts/a.png,x,nigth,256,128,2,,,Sato,",  # 3: unknown preset
        "EP01_C003,layouts/missing.png,x,,256,128,2,,,Sato,",  # 4: missing layout
        "EP01_C001,layouts/a.png,x,,256,128,2,,,Sato,",  # 5: duplicate id
        "EP01_C005,layouts/a.png,x,,250,128,2,,,Sato,",  # 6: bad width
        "EP01_C006,../outside.png,x,,256,128,2,,,Sato,",  # 7: escapes folder
        "EP01_C007,layouts/a.png,x,,256,,2,,,Sato,",  # 8: height missing
        "EP01_C008,layouts/a.png,x,,256,128,99,-1,,Sato,",  # 9: variations, seed
        "EP01/C009,layouts/a.png,,,256,128,2,,,,",  # 10: id, prompt, artist
        "EP01_C010,/etc/passwd,x,,256,128,2,,,Sato,",  # 11: absolute path
        "EP01_C011,layouts/a.png,x,,256,128,2,,,Sat\xe9,",  # 12: not UTF-8
    ]
    text = (HEADER + "\n".join(rows) + "\n").encode("utf-8").replace(b"Sat\xc3\xa9", b"Sat\xe9")
    path = write(folder, "broken.csv", text)
    with pytest.raises(ShotListError) as info:
        load_shot_list(path, settings)
    problems = info.value.problems
    label = str(path)
    expect = [
        (3, "field 'preset'", "unknown preset 'nigth'"),
        (4, "field 'layout'", "no such file"),
        (5, "field 'shot'", "duplicate shot id 'EP01_C001' (first on line 2)"),
        (6, "field 'width'", "not a multiple of 8"),
        (7, "field 'layout'", "leaves the list's folder"),
        (8, "field 'height'", "width and height go together"),
        (9, "field 'variations'", "99 is out of range"),
        (9, "field 'seed'", "-1 is out of range"),
        (10, "field 'shot'", "not a usable shot id"),
        (10, "field 'prompt'", "empty prompt"),
        (10, "field 'layout_artist'", "missing"),
        (11, "field 'layout'", "must be a path relative"),
        (12, "encoding", "not UTF-8"),
    ]
    for line, field, words in expect:
        prefix = f"{label}:{line}: {field}: "
        assert any(p.startswith(prefix) and words in p for p in problems), (prefix, problems)
    assert len(problems) == len(expect), problems
    assert all("\n" not in p for p in problems)  # one line each
    message = str(info.value)
    assert message.splitlines()[0] == f"{label}: {len(expect)} problems, nothing was rendered"
    assert isinstance(info.value, InputError)


def test_header_problems_and_empty_lists(folder: Path, settings: Settings) -> None:
    path = write(folder, "bad_header.csv", "shot,layout,promt,layout_artist\nA,layouts/a.png,x,S\n")
    with pytest.raises(ShotListError) as info:
        load_shot_list(path, settings)
    text = str(info.value)
    assert f"{path}:1: column 'promt': unknown column" in text
    assert f"{path}:1: column 'prompt': required column is missing" in text
    for name, body in (("empty.csv", HEADER), ("blank.csv", ""), ("empty.yaml", "shots: []\n")):
        p = write(folder, name, body)
        with pytest.raises(ShotListError, match=r":1: shots: the list is empty"):
            load_shot_list(p, settings)
    with pytest.raises(InputError, match="no such shot list"):
        load_shot_list(folder / "nope.csv", settings)
    with pytest.raises(InputError, match="is a folder, not a shot list"):
        load_shot_list(folder, settings)


def test_a_pipe_or_device_named_as_the_shot_list_is_refused(
    folder: Path, settings: Settings
) -> None:
    """A FIFO would block the batch forever and /dev/zero would never end: refused by name
    before anything is read."""
    import os
    import threading

    fifo = folder / "shots.csv"
    os.mkfifo(fifo)
    errors: list[BaseException] = []

    def load(path: Path) -> None:
        try:
            load_shot_list(path, settings)
        except BaseException as exc:  # handed to the test thread
            errors.append(exc)

    for path in (fifo, Path("/dev/zero")):
        errors.clear()
        reader = threading.Thread(target=load, args=(path,), daemon=True)
        reader.start()
        reader.join(10)
        assert not reader.is_alive(), f"reading {path} blocked"
        assert len(errors) == 1 and isinstance(errors[0], InputError)
        assert str(errors[0]) == f"{path}: not a regular file (a device or a pipe)"
    big = folder / "huge.csv"
    with big.open("wb") as fh:
        fh.truncate(MAX_SHOT_LIST_BYTES + 1)  # sparse: no disk used
    with pytest.raises(InputError, match=r"huge\.csv: file too large"):
        load_shot_list(big, settings)


def test_broken_yaml_reports_lines(folder: Path, settings: Settings) -> None:
    path = write(
        folder,
        "ep.yaml",
        """\
shots:
  - shot: EP01_C001
    layout: layouts/a.png
    prompt: ok
    layout_artist: Sato
  - shot: EP01_C002
    layout: layouts/none.png
    prompt: [not, a, string]
    layout_artist: Sato
    colour: red
  - shot: EP01_C001
    layout: layouts/a.png
    prompt: again
    layout_artist: Sato
    width: 100
    height: 64
""",
    )
    with pytest.raises(ShotListError) as info:
        load_shot_list(path, settings)
    text = str(info.value)
    assert f"{path}:7: field 'layout': layouts/none.png: no such file" in text
    assert f"{path}:8: field 'prompt': must be a single value" in text
    assert f"{path}:10: field 'colour': unknown field" in text
    assert f"{path}:11: field 'shot': duplicate shot id 'EP01_C001' (first on line 2)" in text
    assert f"{path}:15: field 'width': width 100 is not a multiple of 8" in text
    bad = write(folder, "bad.yaml", "shots:\n  - shot: [unclosed\n")
    with pytest.raises(ShotListError, match=r"bad.yaml:\d+: yaml: not valid YAML"):
        load_shot_list(bad, settings)


def test_select_with_globs(folder: Path, settings: Settings) -> None:
    rows = "".join(f"EP01_C00{i},layouts/a.png,x,,,,1,,,Sato,\n" for i in range(1, 5))
    rows += "EP02_C001,layouts/a.png,x,,,,1,,,Sato,\n"
    shot_list = load_shot_list(write(folder, "l.csv", HEADER + rows), settings)
    assert [s.id for s in shot_list.select(["EP01_C00[13]"])] == ["EP01_C001", "EP01_C003"]
    assert [s.id for s in shot_list.select(["EP02*", "EP01_C004"])] == ["EP01_C004", "EP02_C001"]
    assert len(shot_list.select(None)) == 5
    with pytest.raises(InputError, match=r"--only EP03\*: matches no shot"):
        shot_list.select(["EP03*"])


def test_case_insensitive_duplicates_and_excel_quirks(folder: Path, settings: Settings) -> None:
    # Excel: BOM, semicolons, CRLF, a Windows path, a comment line
    body = (
        "\ufeffshot;layout;prompt;layout_artist\r\n# a comment\r\n"
        "EP01_C001;layouts\\a.png;x;S\r\nep01_c001;layouts/a.png;y;S\r\n"
    )
    path = write(folder, "excel.csv", body)
    with pytest.raises(ShotListError) as info:
        load_shot_list(path, settings)
    assert info.value.problems == [
        f"{path}:4: field 'shot': duplicate shot id 'ep01_c001' (first on line 3)"
    ]


def test_a_nul_byte_in_a_path_cell_is_a_problem_not_a_crash(
    folder: Path, settings: Settings
) -> None:
    """os.stat raises ValueError on a NUL: it must be one of the list's problems, named by
    file:line and field, in CSV (raw byte) and YAML ("\\0" escape) alike."""
    csv_path = write(
        folder,
        "nul.csv",
        HEADER.encode()
        + b"EP01_C001,layouts/a.png,x,,,,1,,photo\x00.jpg,Sato,\n"
        + b"EP01_C002,layouts/a\x00.png,x,,,,1,,,Sato,\n",
    )
    with pytest.raises(ShotListError) as info:
        load_shot_list(csv_path, settings)
    problems = info.value.problems
    assert (
        f"{csv_path}:2: field 'photo': 'photo\\x00.jpg' contains a NUL byte (character "
        "6); not a usable file name" in problems
    )
    assert any(
        p.startswith(f"{csv_path}:3: field 'layout': 'layouts/a\\x00.png' contains a NUL byte")
        for p in problems
    )
    yaml_path = write(
        folder,
        "nul.yaml",
        '- shot: EP01_C001\n  layout: "layouts/a\\0.png"\n  prompt: x\n  layout_artist: Sato\n',
    )
    with pytest.raises(ShotListError) as info:
        load_shot_list(yaml_path, settings)
    assert info.value.problems == [
        f"{yaml_path}:2: field 'layout': 'layouts/a\\x00.png' contains a NUL byte (character "
        "10); not a usable file name"
    ]


@pytest.mark.parametrize("above", ["# EP01 shot list, final\n", "\n", "\n{sep}{sep}\n# v2; a\tb\n"])
@pytest.mark.parametrize("sep", [";", "\t"])
def test_the_separator_is_read_from_the_header_line(
    folder: Path, settings: Settings, above: str, sep: str
) -> None:
    """A comment, a blank line or an empty spreadsheet row above the header does not decide
    the separator."""
    above = above.format(sep=sep)
    body = (
        above
        + HEADER.replace(",", sep)
        + sep.join(
            ["EP01_C001", "layouts/a.png", "dusk, rain", "", "", "", "1", "", "", "Sato", ""]
        )
        + "\n"
    )
    path = write(folder, "ep.csv", body)
    (shot,) = load_shot_list(path, settings).shots
    assert (shot.id, shot.prompt, shot.layout_artist) == ("EP01_C001", "dusk, rain", "Sato")
    assert shot.line == above.count("\n") + 2


def test_an_unclosed_quote_is_reported_where_its_row_starts(
    folder: Path, settings: Settings
) -> None:
    rows = [
        "EP01_C001,layouts/a.png,ok,,,,1,,,Sato,",
        'EP01_C002,layouts/a.png,"dusk,,,,1,,,Sato,',  # line 3: the quote never closes
        "EP01_C003,layouts/a.png,ok,,,,1,,,Sato,",
        "EP01_C004,layouts/a.png,ok,,,,1,,,Sato,",
    ]
    path = write(folder, "ep.csv", HEADER + "\n".join(rows) + "\n")
    with pytest.raises(ShotListError) as info:
        load_shot_list(path, settings)
    assert info.value.problems == [
        f"{path}:3: row: not valid CSV: a quote opened on this row is never closed (the file "
        "ends on line 5)"
    ]
