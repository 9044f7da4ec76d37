"""C2PA states the mix: each human act's share and the regions where its paint remains, every
assertion bgart's manifest holds filed as a created assertion, people named by role.

Real signing with the project's own test CA (``bgart credits`` makes it), read back with the
c2pa Reader."""

from __future__ import annotations

import io
import json
from pathlib import Path

import c2pa
import numpy as np
import pytest
from helpers.credits import DIRECTOR, H, W, ai_image, lock_catalog, png, record

from bgart import plates as workflow
from bgart.cli import main
from bgart.credits import CreditReport, ExportedPlate, build_report, export_plates
from bgart.credits.c2pa import format_credits, read_credentials, verify_png
from bgart.credits.c2pa.regions import MAX_RECTS, cover_rects
from bgart.ledger import Project

SHOT = "EP07_C001"
PIA, KEN = "Painter Pia", "Retouch Ken"
# Pia's first session: two separate blobs; Ken then paints over the right half of her second
# blob; Pia's second session: one more small blob.
BLOB_1 = (slice(5, 15), slice(4, 20))  # rows, cols
BLOB_2 = (slice(35, 50), slice(40, 60))
KEN_BLOB = (slice(30, 55), slice(50, 70))
BLOB_3 = (slice(52, 58), slice(2, 8))


def _layer(*blobs: tuple[slice, slice], colour: tuple[int, int, int]) -> np.ndarray:
    layer = np.zeros((H, W, 4), np.uint8)
    for rows, cols in blobs:
        layer[rows, cols, :3] = colour
        layer[rows, cols, 3] = 255
    return layer


def _rect(rows: slice, cols: slice) -> tuple[int, int, int, int]:
    return (cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, CreditReport, ExportedPlate]:
    root = tmp_path_factory.mktemp("mix") / "show"
    proj = Project.init(root, production="Mix Show")
    workflow.record_generated(proj, SHOT, png(ai_image(71), record(71)), record(71))
    workflow.record_paint(proj, SHOT, _layer(BLOB_1, BLOB_2, colour=(255, 0, 255)), PIA, 90.0)
    workflow.record_paint(proj, SHOT, _layer(KEN_BLOB, colour=(255, 255, 0)), KEN, 40.0)
    workflow.record_paint(proj, SHOT, _layer(BLOB_3, colour=(0, 255, 255)), PIA, 10.0)
    workflow.accept(proj, SHOT, DIRECTOR)
    report = build_report(proj, catalog=lock_catalog(proj), thumbnails=False)
    (item,) = export_plates(proj, report, psd=False, say=lambda _m: None)
    yield proj, report, item
    proj.close()


def _paint_actions(png_path: Path) -> list[dict]:  # type: ignore[type-arg]
    creds = read_credentials(png_path)
    return [a for a in creds["actions"] if a["action"] == "c2pa.drawing"]


def _rects(action: dict) -> list[tuple[int, int, int, int]]:  # type: ignore[type-arg]
    out = []
    for change in action.get("changes", []):
        (rng,) = change["region"]
        assert rng["type"] == "spatial"
        shape = rng["shape"]
        assert (shape["type"], shape["unit"]) == ("rectangle", "pixel")
        out.append(
            (
                int(shape["origin"]["x"]),
                int(shape["origin"]["y"]),
                int(shape["width"]),
                int(shape["height"]),
            )
        )
    return out


# --- the rectangles --------------------------------------------------------------------------


def test_two_separate_blobs_give_two_rectangles() -> None:
    mask = np.zeros((H, W), bool)
    mask[BLOB_1] = mask[BLOB_2] = True
    assert cover_rects(mask) == [_rect(*BLOB_1), _rect(*BLOB_2)]
    assert cover_rects(np.zeros((H, W), bool)) == []


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rectangles_cover_every_pixel_and_stay_few(seed: int) -> None:
    """Scattered specks and strokes (far more than 16 patches): at most 16 rectangles, and
    every credited pixel inside one of them."""
    rng = np.random.default_rng(seed)
    mask = rng.random((300, 500)) < 0.002
    mask[100:110, 50:400] = True
    rects = cover_rects(mask)
    assert 1 <= len(rects) <= MAX_RECTS
    covered = np.zeros_like(mask)
    for x, y, w, h in rects:
        assert w > 0 and h > 0
        covered[y : y + h, x : x + w] = True
    assert not (mask & ~covered).any()


# --- the signed plate ----------------------------------------------------------------------


def test_each_paint_act_states_where_its_paint_remains(mixed) -> None:
    _proj, _report, item = mixed
    pia_1, ken, pia_2 = _paint_actions(item.png)
    assert [a["parameters"]["org.bgart.person"] for a in (pia_1, ken, pia_2)] == [PIA, KEN, PIA]
    # Pia's first session: two rectangles; Ken painted over the right half of the second
    remaining_2 = (BLOB_2[0], slice(BLOB_2[1].start, KEN_BLOB[1].start))
    assert _rects(pia_1) == [_rect(*BLOB_1), _rect(*remaining_2)]
    assert _rects(ken) == [_rect(*KEN_BLOB)]
    assert _rects(pia_2) == [_rect(*BLOB_3)]
    pixels = {
        "pia_1": 10 * 16 + 15 * 10,
        "ken": 25 * 20,
        "pia_2": 6 * 6,
    }
    got = [a["parameters"]["org.bgart.pixels"] for a in (pia_1, ken, pia_2)]
    assert got == [pixels["pia_1"], pixels["ken"], pixels["pia_2"]]


def test_act_shares_equal_the_reports(mixed) -> None:
    """An artist's acts add up to their share in the report. (c2pa-rs parses the manifest's
    JSON with a float parser that may move the last bit or two: 500/4800 = 0.10416666666666667
    reads back as 0.10416666666666669, in the figures as in the actions.)"""
    _proj, report, item = mixed
    (plate,) = report.plates
    shares = {c.name: c.human_paint_share for c in plate.contributors}
    assert shares[KEN] == pytest.approx(500 / (W * H), rel=1e-12)
    assert shares[PIA] == pytest.approx((310 + 36) / (W * H), rel=1e-12)
    pia_1, ken, pia_2 = _paint_actions(item.png)
    pia = pia_1["parameters"]["org.bgart.share"] + pia_2["parameters"]["org.bgart.share"]
    assert ken["parameters"]["org.bgart.share"] == pytest.approx(shares[KEN], rel=1e-15)
    assert pia == pytest.approx(shares[PIA], rel=1e-14)
    assert pia_1["parameters"]["org.bgart.share"] == pytest.approx(310 / (W * H), rel=1e-12)
    # the same number as the manifest's own per-artist figure
    figures = read_credentials(item.png)["contribution"]
    retouch = {r["artist"]: r["human_paint_share"] for r in figures["retouch"]}
    assert ken["parameters"]["org.bgart.share"] == retouch[KEN]
    assert pia == pytest.approx(retouch[PIA], rel=1e-14)


def test_verify_prints_each_acts_share_and_areas(mixed, capsys) -> None:
    _proj, _report, item = mixed
    assert main(["credits", "verify", str(item.png)]) == 0
    out = capsys.readouterr().out
    assert f"Retouch: {PIA} (hand-painted, 90 s active), 6.5% of the plate in 2 areas (" in out
    assert "x=4 y=5 16x10 px; x=40 y=35 10x15 px)" in out
    assert f"Retouch: {KEN} (hand-painted, 40 s active), 10.4% of the plate in 1 area" in out


def test_assertions_land_where_the_spec_places_them(mixed) -> None:
    """The detailed Reader JSON (the claim itself): the actions, ingredients, thumbnails and
    bgart's own assertions are created assertions; nothing is gathered; no deprecated
    schema.org CreativeWork."""
    _proj, _report, item = mixed
    with c2pa.Reader("image/png", io.BytesIO(item.png.read_bytes())) as reader:
        detail = json.loads(reader.detailed_json())
    for label, manifest in detail["manifests"].items():
        claim = manifest["claim"]
        created = {a["url"].rsplit("/", 1)[-1] for a in claim["created_assertions"]}
        assert not claim.get("gathered_assertions"), (label, claim.get("gathered_assertions"))
        assert "c2pa.actions.v2" in created and "c2pa.hash.data" in created
        assert "c2pa.thumbnail.claim" in created
        assert not any("CreativeWork" in c for c in created)
    active = detail["manifests"][detail["active_manifest"]]["claim"]
    created = {a["url"].rsplit("/", 1)[-1] for a in active["created_assertions"]}
    assert {
        "c2pa.ingredient.v3",
        "c2pa.thumbnail.ingredient",
        "org.bgart.contribution",
        "org.bgart.people",
    } <= created


def test_people_are_named_by_role_and_the_director_is_no_author(mixed) -> None:
    _proj, _report, item = mixed
    with c2pa.Reader("image/png", io.BytesIO(item.png.read_bytes())) as reader:
        store = json.loads(reader.json())
    manifest = store["manifests"][store["active_manifest"]]
    (people,) = [a["data"] for a in manifest["assertions"] if a["label"] == "org.bgart.people"]
    assert people == {
        "authors": [{"name": PIA, "roles": ["retouch"]}, {"name": KEN, "roles": ["retouch"]}],
        "contributors": [{"name": DIRECTOR, "role": "approver"}],
    }
    # the same authors in the standard vocabulary (CAWG metadata assertion, Dublin Core); the
    # approver is neither creator nor contributor there
    (metadata,) = [a["data"] for a in manifest["assertions"] if a["label"] == "cawg.metadata"]
    assert metadata == {
        "@context": {"dc": "http://purl.org/dc/elements/1.1/"},
        "dc:creator": [PIA, KEN],
    }
    assert not any("CreativeWork" in a["label"] for a in manifest["assertions"])
    creds = read_credentials(item.png)
    assert creds["authors"] == [PIA, KEN]
    text = format_credits(creds)
    assert f"  Authors: {PIA} (retouch), {KEN} (retouch)" in text
    authors_line = next(line for line in text.splitlines() if "Authors:" in line)
    assert DIRECTOR not in authors_line and "  Approved by: Kei Director" in text


def test_hand_painted_base_states_what_of_it_remains(tmp_path: Path) -> None:
    """A hand-painted base retouched by another artist: ``c2pa.opened`` states the base
    painter's remaining share and where it is; the retouch states its own."""
    proj = Project.init(tmp_path / "base", production="Small")
    workflow.record_base(
        proj, SHOT, np.full((H, W, 3), (120, 160, 200), np.uint8), PIA, origin="hand-painted"
    )
    workflow.record_paint(proj, SHOT, _layer((slice(0, H), slice(0, 20)), colour=(255, 0, 0)), KEN)
    workflow.accept(proj, SHOT, DIRECTOR)
    report = build_report(proj, catalog=lock_catalog(proj), thumbnails=False)
    (item,) = export_plates(proj, report, psd=False, say=lambda _m: None)
    assert verify_png(item.png).ok
    opened, paint = read_credentials(item.png)["actions"]
    assert opened["action"] == "c2pa.opened"
    assert opened["parameters"]["org.bgart.person"] == PIA
    assert opened["parameters"]["org.bgart.share"] == pytest.approx(60 / 80)
    assert _rects(opened) == [(20, 0, 60, H)]
    assert paint["parameters"]["org.bgart.share"] == pytest.approx(20 / 80)
    assert _rects(paint) == [(0, 0, 20, H)]
    people = read_credentials(item.png)
    assert people["authors"] == [PIA, KEN]
    proj.close()


def test_act_painted_over_states_nothing_remains(tmp_path: Path) -> None:
    """A session fully painted over by a later one keeps its action (the history), with
    share 0, no pixels and no region."""
    proj = Project.init(tmp_path / "over", production="Small")
    workflow.record_generated(proj, SHOT, png(ai_image(72), record(72)), record(72))
    workflow.record_paint(proj, SHOT, _layer(BLOB_1, colour=(255, 0, 255)), PIA, 5.0)
    workflow.record_paint(proj, SHOT, _layer(BLOB_1, colour=(255, 255, 0)), KEN, 5.0)
    workflow.accept(proj, SHOT, DIRECTOR)
    report = build_report(proj, catalog=lock_catalog(proj), thumbnails=False)
    (item,) = export_plates(proj, report, psd=False, say=lambda _m: None)
    pia, ken = _paint_actions(item.png)
    assert (pia["parameters"]["org.bgart.share"], pia["parameters"]["org.bgart.pixels"]) == (0, 0)
    assert "changes" not in pia
    assert _rects(ken) == [_rect(*BLOB_1)]
    text = format_credits(read_credentials(item.png))
    assert (
        f"Retouch: {PIA} (hand-painted, 5 s active), 0.0% of the plate (none of it remains)" in text
    )
    proj.close()


def test_an_earlier_export_naming_people_in_creativework_still_reads(tmp_path: Path) -> None:
    """Exports signed before ``org.bgart.people`` name people in a schema.org CreativeWork:
    ``credits verify`` still prints its authors and approver."""
    from bgart.credits.c2pa import init_signing, load_signer
    from bgart.credits.c2pa.sign import _sign_bytes

    chain, key = init_signing(tmp_path, "Old Show")
    definition = {
        "claim_generator_info": [{"name": "bgart", "version": "0.1.0"}],
        "title": "old.png",
        "assertions": [
            {
                "label": "c2pa.actions.v2",
                "created": True,
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/"
                            "digitalCreation",
                        }
                    ]
                },
            },
            {
                "label": "stds.schema-org.CreativeWork",
                "data": {
                    "@context": "https://schema.org",
                    "@type": "CreativeWork",
                    "author": [{"@type": "Person", "name": PIA}],
                    "contributor": [
                        {
                            "@type": "Role",
                            "roleName": "approver",
                            "contributor": {"@type": "Person", "name": DIRECTOR},
                        }
                    ],
                },
            },
        ],
    }
    signed = _sign_bytes(definition, png(ai_image(73)), "image/png", load_signer(chain, key))
    creds = read_credentials(signed)
    assert creds["authors"] == [PIA]
    assert creds["contributors"] == [{"name": DIRECTOR, "role": "approver"}]
    text = format_credits(creds)
    assert f"  Authors: {PIA}\n" in text and f"  Approved by: {DIRECTOR}" in text
