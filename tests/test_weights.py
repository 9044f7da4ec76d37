"""weights.lock: pull, verify, trust on first use, refusal of tampered and pickle files."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomlkit

from bgart.errors import WeightsError
from bgart.weights import (
    WeightsLock,
    ensure_ready,
    lock_back,
    pull,
    pull_if_missing,
    store_lock,
    verify,
)


def _copy_store(tiny_store: Path, tmp_path: Path) -> Path:
    store = tmp_path / "store"
    shutil.copytree(tiny_store, store)
    return store


def test_pulled_models_verify_clean(tiny_root: Path, tiny_store: Path) -> None:
    lock = WeightsLock.load(tiny_root / "weights.lock")
    assert verify(lock, tiny_store) == []
    assert ensure_ready(lock, tiny_store, "tiny-sd15").is_dir()


def test_tampered_weight_file_is_refused_by_name(
    tiny_root: Path, tiny_store: Path, tmp_path: Path
) -> None:
    store = _copy_store(tiny_store, tmp_path)
    lock = WeightsLock.load(tiny_root / "weights.lock")
    target = store / "tiny-sd15" / "unet" / "diffusion_pytorch_model.safetensors"
    data = bytearray(target.read_bytes())
    data[-10] ^= 0xFF  # same size, different bytes
    target.write_bytes(bytes(data))
    problems = verify(lock, store, ["tiny-sd15"])
    assert len(problems) == 1
    assert "unet/diffusion_pytorch_model.safetensors" in problems[0]
    assert "sha256 mismatch" in problems[0]
    with pytest.raises(WeightsError, match=r"unet/diffusion_pytorch_model\.safetensors"):
        ensure_ready(lock, store, "tiny-sd15")


def test_engine_refuses_tampered_model(
    tiny_root: Path, tiny_store: Path, tmp_path: Path, tiny_settings
) -> None:  # type: ignore[no-untyped-def]
    from bgart.engine import Engine

    store = _copy_store(tiny_store, tmp_path)
    target = store / "tiny-controlnet-sd15" / "diffusion_pytorch_model.safetensors"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0x01
    target.write_bytes(bytes(data))
    settings = tiny_settings.model_copy(update={"model_store": store})
    with pytest.raises(WeightsError, match=r"tiny-controlnet-sd15.*sha256 mismatch"):
        Engine.load(settings)


def test_missing_and_stray_pickle_files_are_named(
    tiny_root: Path, tiny_store: Path, tmp_path: Path
) -> None:
    store = _copy_store(tiny_store, tmp_path)
    lock = WeightsLock.load(tiny_root / "weights.lock")
    (store / "tiny-sd15" / "vae" / "config.json").unlink()
    (store / "tiny-sd15" / "unet" / "diffusion_pytorch_model.ckpt").write_bytes(b"pickle")
    problems = "\n".join(verify(lock, store, ["tiny-sd15"]))
    assert "vae/config.json: missing" in problems
    assert "diffusion_pytorch_model.ckpt: pickle file refused" in problems


@pytest.mark.parametrize("name", ["model.ckpt", "unet/diffusion_pytorch_model.bin", "x.pt"])
def test_lock_listing_a_pickle_is_refused(tmp_path: Path, name: str) -> None:
    lock = tmp_path / "weights.lock"
    lock.write_text(
        '[models.bad]\nkind = "pipeline"\narchitecture = "sd15"\nrepo = "hf:a/b"\n'
        f'files = [{{path = "{name}", sha256 = ""}}]\n',
        encoding="utf-8",
    )
    with pytest.raises(WeightsError, match=r"model 'bad' file .*pickle format refused"):
        WeightsLock.load(lock)


def test_lock_errors_name_the_field(tmp_path: Path) -> None:
    lock = tmp_path / "weights.lock"
    lock.write_text(
        '[models.m]\nkind = "pipeline"\narchitecture = "sd3"\nrepo = "hf:a/b"\n'
        'files = [{path = "a.json"}]\n',
        encoding="utf-8",
    )
    with pytest.raises(WeightsError, match="model 'm': field 'architecture'"):
        WeightsLock.load(lock)
    with pytest.raises(WeightsError, match="unknown model 'nope'"):
        WeightsLock(lock, {}).get("nope")
    with pytest.raises(WeightsError, match=r"missing\.lock: weights lock not found"):
        WeightsLock.load(tmp_path / "missing.lock")


def test_trust_on_first_use_then_lock_writes_pins_back(tiny_root: Path, tmp_path: Path) -> None:
    """An unpinned entry pulls with a loud warning; `lock_back` writes the hashes it saw."""
    lock_path = tmp_path / "weights.lock"
    doc = tomlkit.parse((tiny_root / "weights.lock").read_text(encoding="utf-8"))
    entry = doc["models"]["tiny-controlnet-sd15"]
    entry["revision"] = ""
    pinned = {f["path"]: f["sha256"] for f in entry["files"]}
    for f in entry["files"]:
        f["sha256"] = ""
        f["size"] = ""
    doc["models"] = {"tiny-controlnet-sd15": entry}
    lock_path.write_text(tomlkit.dumps(doc), encoding="utf-8")

    said: list[str] = []
    store = tmp_path / "store"
    pull(WeightsLock.load(lock_path), store, "tiny-controlnet-sd15", say=said.append)
    warnings = [s for s in said if s.startswith("WARNING")]
    assert len(warnings) == len(pinned)  # one loud line per unpinned file
    assert all("trusting" in w and "bgart weights lock" in w for w in warnings)

    changes = lock_back(lock_path, store)
    assert changes
    relocked = WeightsLock.load(lock_path).get("tiny-controlnet-sd15")
    assert {f.path: f.sha256 for f in relocked.files} == pinned
    assert relocked.revision == "local"
    assert verify(WeightsLock.load(lock_path), store) == []
    assert lock_back(lock_path, store) == []  # idempotent


def test_pull_refuses_a_source_that_changed(tiny_root: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(tiny_root / "src" / "tiny-controlnet-sd15", src)
    lock_text = (tiny_root / "weights.lock").read_text(encoding="utf-8")
    doc = tomlkit.parse(lock_text)
    entry = doc["models"]["tiny-controlnet-sd15"]
    entry["repo"] = src.as_uri()
    doc["models"] = {"tiny-controlnet-sd15": entry}
    lock_path = tmp_path / "weights.lock"
    lock_path.write_text(tomlkit.dumps(doc), encoding="utf-8")
    (src / "config.json").write_text('{"changed": true}', encoding="utf-8")
    store = tmp_path / "store"
    with pytest.raises(WeightsError, match=r"config\.json: sha256 mismatch"):
        pull(WeightsLock.load(lock_path), store, "tiny-controlnet-sd15", say=lambda _m: None)
    assert not (store / "tiny-controlnet-sd15").exists()  # nothing half-verified left behind


def test_a_second_process_waits_for_a_pull_and_does_not_download_again(
    tiny_root: Path, tmp_path: Path
) -> None:
    """Every rank of a launched batch asks for the model: while one pulls, the others wait
    on the store's lock, then find it in place."""
    lock_path, store = tiny_root / "weights.lock", tmp_path / "store"
    script = (
        "import sys; from bgart.weights import WeightsLock, pull_if_missing; "
        "pull_if_missing(WeightsLock.load(sys.argv[1]), sys.argv[2], 'tiny-sd15', "
        "say=lambda m: print(m, flush=True))"
    )
    with store_lock(store):
        other = subprocess.Popen(
            [sys.executable, "-c", script, str(lock_path), str(store)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        assert other.stdout is not None
        first = other.stdout.readline()  # it got as far as the lock, found it held
        assert "another process is pulling into" in first and "waiting" in first, first
        said: list[str] = []
        pull_if_missing(WeightsLock.load(lock_path), store, "tiny-sd15", say=said.append)
        assert sum("pulling it now" in m for m in said) == 2  # the model and its ControlNet
        assert other.poll() is None  # still waiting: the lock is held until the pull ends
    rest, _ = other.communicate(timeout=60)
    assert other.returncode == 0, rest
    assert "pulling" not in rest  # it found both models in place
    assert verify(WeightsLock.load(lock_path), store) == []


def test_shipped_lock_parses_and_pins_no_pickles() -> None:
    lock = WeightsLock.load(Path(__file__).resolve().parent.parent / "weights.lock")
    assert {"anime-sd15", "anime-sdxl"} <= set(lock.models)
    for entry in lock.models.values():
        assert entry.repo.startswith("hf:")
        assert all(f.path.endswith((".safetensors", ".json", ".txt")) for f in entry.files)
