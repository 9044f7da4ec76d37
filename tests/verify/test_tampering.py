"""`ledger verify` on the hash-chained ledger: catching every kind of tampering, by name.

Runs against SQLite and, when BGART_TEST_PG_URL is set, a real PostgreSQL server.
"""

from __future__ import annotations

import json
import os
import zlib
from typing import Any

import pytest
from helpers.history import H, W, build_history, expect_failure, rehash_chain, row, sql
from helpers.images import generated_png, noise_plate, stroke_layer

from bgart import plates as wf
from bgart.canonical import canonical_json
from bgart.errors import LedgerIntegrityError
from bgart.ledger import Project
from bgart.provenance import Raster
from bgart.verify import replay, verify_project

# --- tampering -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "column,value",
    [
        ("payload", None),  # filled in below: a payload with one figure changed
        ("actor", "mallory"),
        ("kind", "plate.rejected"),
        ("created_at", "2020-01-01T00:00:00.000000Z"),
        ("hash", "f" * 64),
    ],
)
def test_an_edited_row_is_named(project: Project, column: str, value: str | None) -> None:
    seqs = build_history(project)
    seq = seqs["paint"]
    if column == "payload":
        payload = json.loads(row(project, seq)["payload"])
        payload["active_seconds"] = 9999.0
        value = json.dumps(payload)
    sql(project, f"UPDATE events SET {column} = :v WHERE seq = :s", v=value, s=seq)
    message = expect_failure(project, rf"event #{seq} \(id [0-9a-f]{{32}}")
    assert row(project, seq)["id"] in message


def test_an_edited_blob_reference_is_named(project: Project) -> None:
    seqs = build_history(project)
    blobs = json.loads(row(project, seqs["paint"])["blobs"])
    blobs["layer"] = "0" * 64
    sql(
        project, "UPDATE events SET blobs = :v WHERE seq = :s", v=json.dumps(blobs), s=seqs["paint"]
    )
    expect_failure(project, rf"event #{seqs['paint']} ")


def test_a_deleted_row_is_named(project: Project) -> None:
    seqs = build_history(project)
    sql(project, "DELETE FROM events WHERE seq = :s", s=seqs["paint"])
    expect_failure(project, rf"event #{seqs['paint']} missing")


def test_a_deleted_last_row_is_named(project: Project) -> None:
    seqs = build_history(project)
    sql(project, "DELETE FROM events WHERE seq = :s", s=seqs["accept"])
    expect_failure(project, rf"event #{seqs['accept']} missing")


def test_a_deleted_last_row_with_head_rewound_breaks_the_anchor(project: Project) -> None:
    seqs = build_history(project)
    anchor = project.ledger.head()[1]
    prev = row(project, seqs["accept"] - 1)
    sql(project, "DELETE FROM events WHERE seq = :s", s=seqs["accept"])
    sql(project, "UPDATE chain_head SET seq = :q, hash = :h", q=prev["seq"], h=prev["hash"])
    verify_project(project)  # a consistent shorter chain: only an anchor can tell
    with pytest.raises(LedgerIntegrityError, match="no event has hash"):
        verify_project(project, anchor=anchor)


def _swap(project: Project, a: int, b: int) -> None:
    ra, rb = row(project, a), row(project, b)
    cols = [c for c in ra if c != "seq"]
    sql(
        project,
        "UPDATE events SET id = :i, idem_key = NULL WHERE seq = :s",
        i="tmp" + ra["id"][3:],
        s=a,
    )
    for target, source in ((b, ra), (a, rb)):
        sets = ", ".join(f"{c} = :{c}" for c in cols)
        sql(
            project,
            f"UPDATE events SET {sets} WHERE seq = :seq",
            seq=target,
            **{c: source[c] for c in cols},
        )


def test_swapped_rows_are_named(project: Project) -> None:
    seqs = build_history(project)
    _swap(project, seqs["select"], seqs["inpaint"])
    expect_failure(project, rf"event #{seqs['select']} ")


def test_adjacent_swap_is_named(project: Project) -> None:
    seqs = build_history(project)
    _swap(project, seqs["inpaint"], seqs["accept"])
    expect_failure(project, rf"event #{seqs['inpaint']} ")


@pytest.mark.parametrize(
    "role,event", [("layer", "paint"), ("raster", "select"), ("image", "gen2"), ("mask", "inpaint")]
)
def test_an_altered_blob_is_named(project: Project, role: str, event: str) -> None:
    seqs = build_history(project)
    sha = _alter_blob(project, seqs[event], role)
    first = min(
        s for name, s in seqs.items() if sha in json.loads(row(project, s)["blobs"]).values()
    )
    message = expect_failure(project, rf"event #{first} .*{role} blob {sha}: altered")
    assert "altered" in message


def _alter_blob(project: Project, seq: int, role: str) -> str:
    """Flip a byte of the ``role`` blob of event ``seq`` on disk; its sha."""
    sha = json.loads(row(project, seq)["blobs"])[role]
    path = project.blobs.path(sha)
    assert path is not None
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[-20] ^= 0xFF
    path.write_bytes(bytes(data))
    return str(sha)


def test_blobs_checked_side_by_side_name_the_first_bad_event(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blobs hashed by child processes (in the background while the chain is checked, or
    with each plate's replay): the same report as one process, and the altered blob of the
    lowest event is the one named, whichever child or piece of work meets it first."""
    monkeypatch.setattr(replay, "_PARALLEL_REPLAY_MIN", 0)  # processes even for a small ledger
    monkeypatch.setattr(replay, "_HASH_CHUNK", 2)  # many pieces of hash-only work
    monkeypatch.setattr(replay, "_BACKGROUND_BATCH", 2)  # some of them in the background
    monkeypatch.setattr(replay, "_LOOK_EVERY", 1)
    forked: list[replay.Task] = []
    real_fork = replay.Replayer._fork

    def fork(self: replay.Replayer, task: replay.Task, *shared: Any) -> None:
        forked.append(task)
        real_fork(self, task, *shared)

    monkeypatch.setattr(replay.Replayer, "_fork", fork)
    first = build_history(project, "ep01_c001")
    second = build_history(project, "ep01_c002", variant=1)
    clean = verify_project(project, workers=1)
    head = (clean.events, clean.head_hash)
    modes: list[dict[str, Any]] = [{}, {"rasters": False}, {"since": head}]
    for mode in modes:
        forked.clear()
        side_by_side = verify_project(project, workers=2, **mode)
        assert side_by_side.blobs == clean.blobs and side_by_side.events == clean.events
        assert any(isinstance(w, replay.HashWork) for task in forked for w in task), mode

    _alter_blob(project, second["gen1"], "image")
    for mode in modes:
        for workers in (1, 2):
            with pytest.raises(LedgerIntegrityError, match=rf"event #{second['gen1']} .*altered"):
                verify_project(project, workers=workers, **mode)
    _alter_blob(project, first["inpaint"], "mask")  # a lower seq than the other one
    for mode in modes:
        for workers in (1, 2):
            expect = rf"event #{first['inpaint']} .*mask blob .*altered"
            with pytest.raises(LedgerIntegrityError, match=expect):
                verify_project(project, workers=workers, **mode)
    assert project.ledger.count() == clean.events  # the parent's connection is intact


def test_a_missing_blob_is_named(project: Project) -> None:
    seqs = build_history(project)
    sha = json.loads(row(project, seqs["paint"])["blobs"])["layer"]
    path = project.blobs.path(sha)
    assert path is not None
    path.unlink()
    expect_failure(project, rf"event #{seqs['paint']} .*layer blob {sha}: missing")


def _forge_raster(project: Project, seq: int) -> None:
    """Claim a whole plate in the raster of event ``seq``, then re-hash the whole chain."""
    blobs = json.loads(row(project, seq)["blobs"])
    raster = Raster.from_bytes(project.blobs.get(blobs["raster"]))
    raster.human[:] = 1.0
    blobs["raster"] = project.blobs.put(raster.to_bytes(), "raster")
    sql(project, "UPDATE events SET blobs = :b WHERE seq = :s", b=canonical_json(blobs), s=seq)
    sql(
        project,
        "UPDATE plate_versions SET raster_sha = :r WHERE event_seq = :s",
        r=blobs["raster"],
        s=seq,
    )
    rehash_chain(project, seq)


def test_a_forged_raster_with_a_rebuilt_chain_is_caught(project: Project) -> None:
    """The hardest forgery: a new raster blob (valid hash) and every later hash recomputed."""
    seqs = build_history(project)
    seq = seqs["paint"]
    _forge_raster(project, seq)
    assert project.ledger.verify_chain()  # the chain itself now looks fine
    expect_failure(project, rf"event #{seq} .*stored raster differs from the recomputed one")
    verify_project(project, shots=["another shot"])  # rasters of that shot only
    with pytest.raises(LedgerIntegrityError, match=rf"event #{seq} "):
        verify_project(project, shots=["ep01_c001"])


def test_a_model_passed_off_as_a_person_with_a_rebuilt_chain_is_caught(project: Project) -> None:
    """The inpaint's model renamed a person (and every later hash recomputed): the credits
    would name it and count its time; the chain check refuses the event."""
    seqs = build_history(project)
    seq = seqs["inpaint"]
    assert row(project, seq)["kind"] == "ai.inpainted"
    sql(project, "UPDATE events SET actor = 'Kimura', actor_kind = 'human' WHERE seq = :s", s=seq)
    rehash_chain(project, seq)
    message = (
        rf"event #{seq} \(id \w+, ai.inpainted\): ai.inpainted is an act of a model "
        r"\(actor kind 'ai'\), not 'human' \(forged, or not written by bgart\)"
    )
    with pytest.raises(LedgerIntegrityError, match=message):
        project.ledger.verify_chain()
    expect_failure(project, message)


def test_a_verified_prefix_skips_only_its_own_rasters(project: Project) -> None:
    """Re-verify after a clean run: rasters up to the recorded head are not recomputed, but
    a forged raster in a consistently re-hashed chain is still caught there, by its hash."""
    seqs = build_history(project)
    first = verify_project(project)
    assert first.replayed == 4  # gen1, select, paint, inpaint are plate versions
    again = verify_project(project, since=(first.events, first.head_hash))
    assert again.replayed == 0 and again.head_hash == first.head_hash
    layer = stroke_layer((H, W), (W // 2, 0, W, H // 2), (0, 255, 0))
    wf.record_paint(project, "ep01_c001", layer, "bob", 10.0)
    later = verify_project(project, since=(first.events, first.head_hash))
    assert later.replayed == 1 and later.events == first.events + 1

    seq = seqs["paint"]
    _forge_raster(project, seq)
    with pytest.raises(LedgerIntegrityError, match=rf"event #{first.events} .*rewritten since"):
        verify_project(project, since=(first.events, first.head_hash))
    expect_failure(project, rf"event #{seq} .*stored raster differs")  # a fresh replay too


def test_a_verified_prefix_longer_than_the_ledger_is_refused(project: Project) -> None:
    build_history(project)
    report = verify_project(project)
    with pytest.raises(LedgerIntegrityError, match=r"verified it up to #99"):
        verify_project(project, since=(99, report.head_hash))


def test_replay_in_worker_processes_matches_the_sequential_one(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plates replayed side by side in forked processes: same report, same first bad event
    (the lowest seq across plates), and the parent's database connection still works."""
    monkeypatch.setattr(replay, "_PARALLEL_REPLAY_MIN", 0)  # processes even for a small ledger
    first = build_history(project, "ep01_c001")
    second = build_history(project, "ep01_c002")
    alone = verify_project(project, workers=1)
    side_by_side = verify_project(project, workers=2)
    assert side_by_side == alone and alone.replayed == 8

    _forge_raster(project, second["paint"])
    _forge_raster(project, first["inpaint"])  # lower seq than the other forgery
    assert first["inpaint"] < second["paint"]
    for workers in (1, 2):
        expect = rf"event #{first['inpaint']} .*stored raster differs"
        with pytest.raises(LedgerIntegrityError, match=expect):
            verify_project(project, workers=workers)
    assert project.ledger.count() == alone.events  # the parent's connection is intact


def test_versions_replayed_in_the_background_while_the_chain_is_checked(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches of versions replayed by a child while the loop goes on, the rest shared out
    at the end: the same report as one process, and the lowest bad event named whichever
    child met it (an early plate's batch, or the share-out)."""
    monkeypatch.setattr(replay, "_PARALLEL_REPLAY_MIN", 0)
    monkeypatch.setattr(replay, "_BACKGROUND_BATCH", 3)  # a background child every few versions
    monkeypatch.setattr(replay, "_LOOK_EVERY", 1)
    forks: list[tuple[Any, ...]] = []
    real_fork = replay.Replayer._fork

    def fork(self: replay.Replayer, task: replay.Task, *shared: Any) -> None:
        forks.append(shared)
        real_fork(self, task, *shared)

    monkeypatch.setattr(replay.Replayer, "_fork", fork)
    shots = [build_history(project, f"ep01_c{i:03d}", variant=i % 2) for i in range(4)]
    alone = verify_project(project, workers=1)
    assert not forks
    side_by_side = verify_project(project, workers=2)
    assert side_by_side == alone and alone.replayed == 16
    assert () in forks and any(a for a in forks)  # background children, then the share-out

    _forge_raster(project, shots[3]["paint"])
    _forge_raster(project, shots[0]["inpaint"])  # the lowest: in the first background batch
    for workers in (1, 2):
        with pytest.raises(LedgerIntegrityError, match=rf"event #{shots[0]['inpaint']} "):
            verify_project(project, workers=workers)
    assert project.ledger.count() == alone.events


def test_a_replay_process_that_fails_is_reported_not_waited_for(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug or a crash in a child: verify says so (it is not a verdict on the ledger)."""
    monkeypatch.setattr(replay, "_PARALLEL_REPLAY_MIN", 0)
    build_history(project, "ep01_c001")
    build_history(project, "ep01_c002")

    def broken(*_args: object) -> None:
        raise MemoryError("out of memory in the child")

    monkeypatch.setattr(replay, "_replay_task", broken)
    with pytest.raises(RuntimeError, match=r"replay process failed: .*MemoryError: out of memory"):
        verify_project(project, workers=2)
    monkeypatch.setattr(replay, "_replay_task", lambda *_a: os._exit(9))
    with pytest.raises(RuntimeError, match="a replay process failed: it ended with exit code 9"):
        verify_project(project, workers=2)
    monkeypatch.undo()
    assert verify_project(project, workers=2).replayed == 8


def test_an_edited_versions_table_is_caught(project: Project) -> None:
    seqs = build_history(project)
    other = json.loads(row(project, seqs["gen1"])["blobs"])["raster"]
    sql(
        project,
        "UPDATE plate_versions SET raster_sha = :r WHERE event_seq = :s",
        r=other,
        s=seqs["paint"],
    )
    expect_failure(project, r"plate version ep01_c001/main v3 .*does not match the events")


def test_verify_without_rasters_still_checks_chain_and_blobs(project: Project) -> None:
    seqs = build_history(project)
    report = verify_project(project, rasters=False)
    assert report.events == len(seqs)
    sql(project, "UPDATE events SET actor = 'eve' WHERE seq = 1")
    with pytest.raises(LedgerIntegrityError, match="event #1 "):
        verify_project(project, rasters=False)


# --- verify while others append --------------------------------------------------------------


def _save_after_reading(
    project: Project, other: Project, monkeypatch: pytest.MonkeyPatch
) -> list[int]:
    """Make every later event read of ``project`` end with two saves through ``other`` (the
    UI or a batch saving while verify runs): after verify has read the rows, before it
    checks the head and the tables. Returns the seqs appended so far."""
    rows = project.ledger.iter_rows
    added: list[int] = []

    def rows_then_two_saves(*args: Any, **kwargs: Any) -> Any:
        yield from rows(*args, **kwargs)
        layer = stroke_layer((H, W), (0, 0, 4, 4), (0, 255, len(added)))
        added.append(wf.record_paint(other, "ep01_c001", layer, "bob").seq)
        png, rec = generated_png(noise_plate(W, H, 50 + len(added)))  # a new shot and plate
        added.append(wf.record_generated(other, f"ep02_c{len(added):03d}", png, rec).seq)

    monkeypatch.setattr(project.ledger, "iter_rows", rows_then_two_saves)
    return added


@pytest.mark.parametrize("workers", [1, 2])
def test_events_appended_while_verify_runs_are_left_to_the_next_run(
    project: Project, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    """No false alarm when other processes append meanwhile: a run checks the ledger as it
    was when it started (its head, and the table rows of its events); the next run checks
    what was added."""
    monkeypatch.setattr(replay, "_PARALLEL_REPLAY_MIN", 0)  # processes even for a small ledger
    build_history(project)
    with Project.open(project.root) as other:
        added = _save_after_reading(project, other, monkeypatch)
        first = verify_project(project, workers=workers)
        assert first.events == 6 and project.ledger.count() == 8 and added == [7, 8]
        for mode in ({"since": (first.events, first.head_hash)}, {"rasters": False}):
            before = project.ledger.count()
            report = verify_project(project, workers=workers, **mode)
            assert report.events == before and project.ledger.count() == before + 2
        monkeypatch.undo()
    report = verify_project(project, workers=workers)
    assert report.events == project.ledger.count() == 12
    assert report.versions == 4 + 3 + 3  # a paint and a new plate per run


def test_a_row_stored_beyond_the_chain_head_is_named(project: Project) -> None:
    """The head is read once, at the start; an event row beyond it is still an edit, since an
    append commits its row and the new head together."""
    seqs = build_history(project)
    prev = row(project, seqs["accept"] - 1)
    sql(project, "UPDATE chain_head SET seq = :q, hash = :h", q=prev["seq"], h=prev["hash"])
    last = seqs["accept"]
    expect_failure(project, rf"chain head \(#{prev['seq']}\) does not match event #{last}")
    with pytest.raises(LedgerIntegrityError, match="chain head"):
        project.ledger.verify_chain()


def test_a_table_row_of_an_event_beyond_the_chain_head_is_named(project: Project) -> None:
    build_history(project)
    sql(
        project,
        "INSERT INTO candidates (plate_id, number, image_sha, event_seq) "
        "SELECT plate_id, 3, :sha, 99 FROM candidates WHERE number = 1",
        sha="ab" * 32,
    )
    expect_failure(project, r"table row for event #99: no such event")


# --- what the derived tables must match ------------------------------------------------------


@pytest.mark.parametrize(
    "statement,message,without_rasters",
    [
        ("UPDATE plate_versions SET event_seq = 1 WHERE number = 2", r"v2 .*by event #3", True),
        (
            "UPDATE plate_versions SET created_at = '2000-01-01T00:00:00.000000Z' WHERE number = 3",
            r"v3 .*created_at is not the time of event #4",
            True,
        ),
        ("UPDATE plate_versions SET width = 999 WHERE number = 4", r"v4 .*size 999x24", False),
        ("UPDATE plate_versions SET height = 1 WHERE number = 1", r"v1 .*size 32x1", False),
        ("UPDATE candidates SET event_seq = 3 WHERE number = 2", r"candidate .*main #2 ", True),
    ],
)
def test_edited_event_time_and_size_columns_of_the_tables_are_caught(
    project: Project,
    monkeypatch: pytest.MonkeyPatch,
    statement: str,
    message: str,
    without_rasters: bool,
) -> None:
    """The version history the UI shows reads these columns: each must match the event that
    made the version or candidate (the size, where the run decodes the image anyway)."""
    monkeypatch.setattr(replay, "_PARALLEL_REPLAY_MIN", 0)
    build_history(project)
    sql(project, statement)
    for workers in (1, 2):
        with pytest.raises(LedgerIntegrityError, match=message):
            verify_project(project, workers=workers)
    if without_rasters:
        with pytest.raises(LedgerIntegrityError, match=message):
            verify_project(project, rasters=False)


def test_the_first_edited_table_row_is_named_whatever_column_was_edited(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sizes are compared once the replay has measured them, the other columns earlier: the
    row named is still the first edited one."""
    monkeypatch.setattr(replay, "_PARALLEL_REPLAY_MIN", 0)
    build_history(project)
    sql(
        project,
        "UPDATE plate_versions SET created_at = '2000-01-01T00:00:00.000000Z' WHERE number = 3",
    )
    sql(project, "UPDATE plate_versions SET width = 999 WHERE number = 2")
    for workers in (1, 2):
        with pytest.raises(LedgerIntegrityError, match=r"v2 .*size 999x24"):
            verify_project(project, workers=workers)
    with pytest.raises(LedgerIntegrityError, match=r"v3 .*created_at"):  # sizes not measured
        verify_project(project, rasters=False)
    sql(project, "UPDATE plate_versions SET width = 32 WHERE number = 2")
    for workers in (1, 2):
        with pytest.raises(LedgerIntegrityError, match=r"v3 .*created_at"):
            verify_project(project, workers=workers)


# --- what plate events must carry ------------------------------------------------------------


def test_an_edit_without_its_recorded_figures_is_caught(project: Project) -> None:
    """Figures deleted from an edit's payload (and the chain re-hashed): the credits would
    read zeros, so an edit that always records them must carry them."""
    seqs = build_history(project)
    seq = seqs["inpaint"]
    payload = json.loads(row(project, seq)["payload"])
    del payload["stats"]
    sql(project, "UPDATE events SET payload = :p WHERE seq = :s", p=canonical_json(payload), s=seq)
    rehash_chain(project, seq)
    assert project.ledger.verify_chain()
    for kwargs in ({"workers": 1}, {"workers": 2}, {"rasters": False}):
        with pytest.raises(LedgerIntegrityError, match=rf"event #{seq} .*recorded figures missing"):
            verify_project(project, **kwargs)


def _raster(header: bytes, body: bytes = b"") -> bytes:
    return b"BGRASTER" + len(header).to_bytes(4, "little") + header + body


@pytest.mark.parametrize(
    "data",
    [
        b"BGRASTER",
        b"BGRASTER\x01",
        b"BGRASTER\xff\xff\xff\xff{}",
        _raster(b"\xff\xfe"),
        _raster(b"[" * 100_000),
        _raster(b"[]"),
        _raster(b'{"width": 2}'),
        _raster(b'{"width": "two", "height": 3}'),
        _raster(b'{"width": null, "height": 3}'),
        _raster(b'{"width": -2, "height": -3}', zlib.compress(bytes(36))),
        _raster(b'{"width": 1e400, "height": 3}'),
        _raster(b'{"width": 2, "height": 3}', b"not zlib"),
        _raster(b'{"width": 2, "height": 3}', zlib.compress(bytes(36))[:-5]),
        _raster(b'{"width": 2, "height": 3}', zlib.compress(bytes(35))),
        _raster(b'{"width": 2, "height": 3}', zlib.compress(bytes(10_000))),
    ],
    ids=[
        "magic only",
        "length cut",
        "header cut",
        "header not utf8",
        "header too deep",
        "header not a map",
        "no height",
        "width not a number",
        "width null",
        "negative size",
        "width infinite",
        "body not zlib",
        "body cut",
        "body short",
        "body long",
    ],
)
def test_a_malformed_raster_is_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        Raster.from_bytes(data)


def test_an_unreadable_raster_blob_names_its_event(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replay, "_PARALLEL_REPLAY_MIN", 0)
    seqs = build_history(project)
    seq = seqs["paint"]
    blobs = json.loads(row(project, seq)["blobs"])
    bad = project.blobs.put(b"BGRASTER\x01", "raster")
    sql(
        project,
        "UPDATE plate_versions SET raster_sha = :b WHERE raster_sha = :o",
        b=bad,
        o=blobs["raster"],
    )
    blobs["raster"] = bad
    sql(project, "UPDATE events SET blobs = :b WHERE seq = :s", b=canonical_json(blobs), s=seq)
    rehash_chain(project, seq)
    for workers in (1, 2):
        with pytest.raises(LedgerIntegrityError, match=rf"event #{seq} .*raster blob unreadable"):
            verify_project(project, workers=workers)
