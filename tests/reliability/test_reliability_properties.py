"""Issue 8, property-based tests (hypothesis): the shot-list parser and the contribution
arithmetic.

* A shot list written by any spreadsheet (any column order, ',' ';' or tab, BOM or not,
  CRLF or LF, quoted commas, quotes and line breaks in prompts, CSV or YAML) parses back to
  exactly the shots that were written, each with the line it starts on.
* Any bytes at all, named .csv or .yaml, give a shot list or a ShotListError/InputError whose
  every line names the file: never another exception.
* Any sequence of acts on a plate keeps every share in [0, 1], the four class shares summing
  to 1, every pixel's human weight in [0, 1], and is deterministic and serialisable.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from helpers.scratch import scratch_folder
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from bgart import provenance as c
from bgart.errors import InputError
from bgart.inputs import ShotListError, load_shot_list
from bgart.settings import Settings, load_settings

PROPS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

_SETTINGS: list[Settings] = []


def _settings() -> Settings:
    if not _SETTINGS:
        _SETTINGS.append(load_settings(None))
    return _SETTINGS[0]


def _folder() -> Path:
    """A scratch folder with two layouts (shared by all examples: inputs only)."""
    root = scratch_folder("bgart-prop-")
    (root / "layouts").mkdir()
    Image.new("RGB", (96, 64), (200, 200, 200)).save(root / "layouts" / "a.png")
    Image.new("L", (50, 80), 180).save(root / "layouts" / "b b.png")
    return root


FOLDER = _folder()
LAYOUTS = ["layouts/a.png", "layouts/b b.png", "./layouts/a.png", "layouts\\a.png"]

# --- strategies ----------------------------------------------------------------------------

_text_chars = st.characters(
    blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters="\ufeff\x85"
)
shot_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,30}", fullmatch=True)
prompts = (
    st.lists(
        st.one_of(
            st.text(_text_chars, min_size=1, max_size=30),
            st.sampled_from([",", ";", "\t", '"', "''", "\n", "#", "，"]),
        ),
        min_size=1,
        max_size=5,
    )
    .map("".join)
    .filter(lambda s: bool(s.strip()))
)
artists = st.text(_text_chars, min_size=1, max_size=40).filter(lambda s: bool(s.strip()))
sides = st.integers(8, 128).map(lambda n: n * 8)


@st.composite
def shot_rows(draw: Any) -> list[dict[str, Any]]:
    ids = draw(st.lists(shot_ids, min_size=1, max_size=6, unique_by=str.casefold))
    rows = []
    for sid in ids:
        size = draw(st.none() | st.tuples(sides, sides))
        rows.append(
            {
                "shot": sid,
                "layout": draw(st.sampled_from(LAYOUTS)),
                "prompt": draw(prompts),
                "layout_artist": draw(artists),
                "width": size[0] if size else None,
                "height": size[1] if size else None,
                "variations": draw(st.none() | st.integers(1, 16)),
                "seed": draw(st.none() | st.integers(0, 2**32 - 1)),
                "notes": draw(st.none() | st.text(_text_chars, max_size=20)),
            }
        )
    return rows


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def write_csv(
    rows: list[dict[str, Any]], columns: list[str], delimiter: str, bom: bool, newline: str
) -> tuple[bytes, list[int]]:
    """The list's bytes and the line each row starts on."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator=newline)
    w.writerow(columns)
    starts = []
    line = 2
    for row in rows:
        before = buf.tell()
        w.writerow([_cell(row[col]) for col in columns])
        starts.append(line)
        line += buf.getvalue()[before:].count("\n")
    return (b"\xef\xbb\xbf" if bom else b"") + buf.getvalue().encode("utf-8"), starts


def _check(shots: Any, rows: list[dict[str, Any]], starts: list[int] | None) -> None:
    s = _settings()
    assert [x.id for x in shots] == [r["shot"] for r in rows]
    for i, (shot, row) in enumerate(zip(shots, rows, strict=True)):
        assert shot.prompt == row["prompt"].strip()
        assert shot.layout_artist == row["layout_artist"].strip()
        assert shot.layout == (FOLDER / row["layout"].replace("\\", "/")).resolve()
        if row["width"] is not None:
            assert (shot.width, shot.height) == (row["width"], row["height"])
        else:
            assert max(shot.width, shot.height) == max(s.width, s.height)
        assert shot.variations == (row["variations"] or s.variations)
        assert shot.seed == row["seed"]
        assert shot.notes == _cell(row["notes"]).strip()
        if starts is not None:
            assert shot.line == starts[i]


# --- shot lists ----------------------------------------------------------------------------


@PROPS
@given(
    rows=shot_rows(),
    data=st.data(),
    delimiter=st.sampled_from([",", ";", "\t"]),
    bom=st.booleans(),
    newline=st.sampled_from(["\n", "\r\n"]),
)
def test_any_spreadsheet_csv_parses_back_to_its_shots(
    rows: list[dict[str, Any]], data: Any, delimiter: str, bom: bool, newline: str
) -> None:
    required = ["shot", "layout", "prompt", "layout_artist"]
    optional = data.draw(
        st.lists(st.sampled_from(["width", "height", "variations", "seed", "notes"]), unique=True)
    )
    if ("width" in optional) != ("height" in optional):
        optional = [o for o in optional if o not in ("width", "height")]
    columns = data.draw(st.permutations(required + optional))
    for row in rows:
        for col in ("width", "height", "variations", "seed", "notes"):
            if col not in columns:
                row[col] = None
    body, starts = write_csv(rows, list(columns), delimiter, bom, newline)
    path = FOLDER / "list.csv"
    path.write_bytes(body)
    _check(load_shot_list(path, _settings()).shots, rows, starts)


@PROPS
@given(rows=shot_rows(), use_defaults=st.booleans())
def test_any_yaml_list_parses_back_to_its_shots(
    rows: list[dict[str, Any]], use_defaults: bool
) -> None:
    items = [{k: v for k, v in r.items() if v is not None} for r in rows]
    doc: Any = items
    if use_defaults:
        artist = rows[0]["layout_artist"]
        for r, item in zip(rows, items, strict=True):
            r["layout_artist"] = artist
            item.pop("layout_artist")
        doc = {"defaults": {"layout_artist": artist}, "shots": items}
    path = FOLDER / "list.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, width=10**6), encoding="utf-8")
    _check(load_shot_list(path, _settings()).shots, rows, None)


@PROPS
@given(
    data=st.one_of(st.binary(max_size=400), st.text(max_size=400).map(str.encode)),
    suffix=st.sampled_from([".csv", ".yaml"]),
)
def test_any_bytes_give_shots_or_a_named_problem_list(data: bytes, suffix: str) -> None:
    path = FOLDER / f"junk{suffix}"
    path.write_bytes(data)
    try:
        load_shot_list(path, _settings(), label="junk-list")
    except ShotListError as exc:
        lines = str(exc).splitlines()
        assert lines[0].startswith("junk-list: ") and len(lines) == 1 + len(exc.problems)
        assert all(ln.startswith("junk-list:") for ln in lines)
    except InputError as exc:
        assert str(exc).startswith("--only") or "junk-list" in str(exc)


@PROPS
@given(rows=shot_rows(), dup=st.integers(0, 5))
def test_duplicate_ids_are_refused_whatever_their_case(
    rows: list[dict[str, Any]], dup: int
) -> None:
    src = rows[dup % len(rows)]
    twin = {**src, "shot": src["shot"].swapcase()}
    body, _ = write_csv(
        [*rows, twin], ["shot", "layout", "prompt", "layout_artist"], ",", False, "\n"
    )
    path = FOLDER / "dups.csv"
    path.write_bytes(body)
    with pytest.raises(ShotListError, match="duplicate shot id"):
        load_shot_list(path, _settings())


# --- contribution arithmetic ---------------------------------------------------------------

ACTS = ("paint", "final", "inpaint", "adjust")


@st.composite
def plate_history(draw: Any) -> tuple[str, np.ndarray, list[tuple[str, Any]]]:
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    start = draw(st.sampled_from(["generated", "hand-painted", "layout", "blank"]))
    plate = rng.integers(0, 256, (h, w, 3), np.uint8)
    acts: list[tuple[str, Any]] = []
    for act in draw(st.lists(st.sampled_from(ACTS), max_size=6)):
        if act == "paint":
            layer = rng.integers(0, 256, (h, w, 4), np.uint8)
            layer[..., 3] = rng.choice(np.array([0, 1, 64, 128, 254, 255], np.uint8), (h, w))
            acts.append((act, layer))
        elif act == "final":
            acts.append((act, rng.integers(0, 256, (h, w, 3), np.uint8)))
        elif act == "inpaint":
            acts.append(
                (act, (rng.integers(0, 256, (h, w, 3), np.uint8), rng.random((h, w)) < 0.5))
            )
        else:
            gain = rng.integers(-40, 41)
            acts.append((act, gain))
    return start, plate, acts


def _apply(
    start: str, plate: np.ndarray, acts: list[tuple[str, Any]]
) -> list[tuple[np.ndarray, c.Raster]]:
    h, w = plate.shape[:2]
    raster = c.generated(w, h) if start == "generated" else c.imported(w, h, start)
    image = plate
    out = [(image, raster)]
    for act, arg in acts:
        if act == "paint":
            res = c.paint(image, raster, arg)
        elif act == "final":
            res = c.final(image, raster, arg)
        elif act == "inpaint":
            res = c.inpaint(image, raster, arg[0], arg[1])
        else:
            adjusted = np.clip(image.astype(int) + int(arg), 0, 255).astype(np.uint8)
            res = c.adjust(image, raster, adjusted)
        image, raster = res.image, res.raster
        out.append((image, raster))
    return out


@PROPS
@given(history=plate_history())
def test_shares_stay_in_unit_interval_and_sum_to_one(history: Any) -> None:
    start, plate, acts = history
    steps = _apply(start, plate, acts)
    for image, raster in steps:
        assert image.dtype == np.uint8 and image.shape == plate.shape
        assert raster.cls.shape == plate.shape[:2]
        assert set(np.unique(raster.cls)) <= {c.HUMAN_BASE, c.AI_GEN, c.AI_INPAINT}
        assert np.all(raster.human >= 0.0) and np.all(raster.human <= 1.0)
        assert np.all(np.isfinite(raster.human))
        known = c.TOUCHED | c.ADJUSTED | c.BASE_PAINTED  # v2 adds BASE_PAINTED
        assert not np.any(raster.flags & ~np.uint8(known))
        figs = c.figures(raster)
        shares = [
            figs[k]
            for k in ("human_paint_share", "ai_gen_share", "ai_inpaint_share", "human_base_share")
        ]
        for key, value in figs.items():
            if key.endswith("_share"):
                assert 0.0 <= value <= 1.0, (key, value)
        assert abs(sum(shares) - 1.0) < 1e-9, shares
        assert figs["human_touched_share"] >= 0.0
        # Serialised and read back: the same raster, bit for bit.
        assert c.Raster.from_bytes(raster.to_bytes()).equals(raster)
    # The headline share can only come from human acts: pure AI history scores zero.
    if start == "generated" and all(a in ("inpaint", "adjust") for a, _ in acts):
        assert c.figures(steps[-1][1])["human_paint_share"] == 0.0


@PROPS
@given(history=plate_history())
def test_the_arithmetic_is_deterministic(history: Any) -> None:
    start, plate, acts = history
    a = _apply(start, plate, acts)[-1]
    b = _apply(start, plate.copy(), acts)[-1]
    assert np.array_equal(a[0], b[0]) and a[1].equals(b[1])


@PROPS
@given(history=plate_history(), data=st.data())
def test_an_opaque_repaint_of_every_pixel_credits_the_whole_plate(history: Any, data: Any) -> None:
    """A painter who visibly repaints every pixel fully owns the plate (h = 1 everywhere)."""
    start, plate, acts = history
    image, raster = _apply(start, plate, acts)[-1]
    # A colour far from every current pixel in ΔE: black over light pixels, white over dark.
    target = np.where(image.mean(axis=2, keepdims=True) > 127, 0, 255).astype(np.uint8)
    target = np.repeat(target, 3, axis=2)
    assume(bool(c.visibly_different(image, target).all()))
    layer = np.concatenate([target, np.full((*image.shape[:2], 1), 255, np.uint8)], axis=2)
    res = c.paint(image, raster, layer, tone_test=False)
    figs = c.figures(res.raster)
    assert figs["human_paint_share"] == pytest.approx(1.0)
    assert figs["ai_gen_share"] == figs["ai_inpaint_share"] == 0.0
    assert figs["human_touched_share"] == 1.0
