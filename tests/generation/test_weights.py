"""weights.lock: pull, verify, trust on first use, refusal of tampered and pickle files."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomlkit

from bgart.errors import WeightsError
from bgart.generation import (
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
    from bgart.generation import Engine

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
        "import sys; from bgart.generation.weights import WeightsLock, pull_if_missing; "
        "pull_if_missing(WeightsLock.load(sys.argv[1]), sys.argv[2], 'tiny-sd15', "
        "say=lambda m: print(m, flush=True))"
    )
    with store_lock(store):
        other = subprocess.Popen(
            [sys.executable, "-c", script, str(lock_path), str(store)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
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
    lock = WeightsLock.load(Path(__file__).resolve().parents[2] / "weights.lock")
    assert {"anime-sd15", "anime-sdxl"} <= set(lock.models)
    for entry in lock.models.values():
        assert entry.repo.startswith("hf:")
        assert all(f.path.endswith((".safetensors", ".json", ".txt")) for f in entry.files)


def _unpinned_lock(tiny_root: Path, tmp_path: Path, tag: str = "src") -> tuple[Path, Path]:
    """A lock with the tiny ControlNet from a source folder of its own, every hash empty
    (trust on first use); returns (lock path, source folder)."""
    src = tmp_path / tag
    shutil.copytree(tiny_root / "src" / "tiny-controlnet-sd15", src)
    doc = tomlkit.parse((tiny_root / "weights.lock").read_text(encoding="utf-8"))
    entry = doc["models"]["tiny-controlnet-sd15"]
    entry["repo"] = src.as_uri()
    entry["revision"] = ""
    for f in entry["files"]:
        f["sha256"] = ""
        f["size"] = ""
    doc["models"] = {"tiny-controlnet-sd15": entry}
    lock_path = tmp_path / "weights.lock"
    lock_path.write_text(tomlkit.dumps(doc), encoding="utf-8")
    return lock_path, src


def test_a_lock_switched_to_another_source_does_not_pass_off_the_old_copy(
    tiny_root: Path, tmp_path: Path
) -> None:
    """The lock's repo is changed (a new version of the model): the copy pulled from the
    old source is no longer "verified", `weights lock` will not pin its hashes under the new
    repo, and a pull replaces it with the new source's files."""
    name = "tiny-controlnet-sd15"
    lock_path, src = _unpinned_lock(tiny_root, tmp_path)
    store = tmp_path / "store"
    pull(WeightsLock.load(lock_path), store, name, say=lambda _m: None)
    src2 = tmp_path / "src2"
    shutil.copytree(src, src2)
    (src2 / "config.json").write_text(
        (src / "config.json").read_text(encoding="utf-8").replace("{", '{"v": 2, ', 1),
        encoding="utf-8",
    )
    lock_path.write_text(
        lock_path.read_text(encoding="utf-8").replace(src.as_uri(), src2.as_uri()), encoding="utf-8"
    )
    lock = WeightsLock.load(lock_path)
    problems = verify(lock, store)
    assert problems == [
        f"{name}: local copy came from {src.as_uri()}, the lock names "
        f"{src2.as_uri()} (run: bgart weights pull {name} to replace it)"
    ]
    before = lock_path.read_bytes()
    with pytest.raises(WeightsError, match=f"came from {src.as_uri()}.*nothing written"):
        lock_back(lock_path, store)
    assert lock_path.read_bytes() == before
    pull(lock, store, name, say=lambda _m: None)
    assert verify(lock, store) == []
    assert (store / name / "config.json").read_bytes() == (src2 / "config.json").read_bytes()


def test_a_re_pull_keeps_to_what_was_trusted_on_first_use(tiny_root: Path, tmp_path: Path) -> None:
    """A damaged local file is pulled again, but the source meanwhile has other bytes: the
    hashes trusted on first use still stand, so the new bytes are refused (not silently
    trusted "on first use" a second time); the same bytes are fine."""
    name = "tiny-controlnet-sd15"
    lock_path, src = _unpinned_lock(tiny_root, tmp_path)
    store = tmp_path / "store"
    lock = WeightsLock.load(lock_path)
    pull(lock, store, name, say=lambda _m: None)
    (store / name / "config.json").write_text("{}", encoding="utf-8")  # damaged here
    assert any("sha256 mismatch" in p or "size" in p for p in verify(lock, store))
    said: list[str] = []
    pull(lock, store, name, say=said.append)  # the source still has the same bytes: fine
    assert verify(lock, store) == []
    assert not [m for m in said if m.startswith("WARNING")]  # nothing trusted anew
    assert any("the revision this machine trusted on first use" in m for m in said)
    (store / name / "config.json").write_text("{}", encoding="utf-8")
    (src / "config.json").write_text('{"changed upstream": true}', encoding="utf-8")
    with pytest.raises(WeightsError, match=r"config\.json: the source now has other bytes"):
        pull(lock, store, name, say=lambda _m: None)


def test_a_killed_pull_leaves_no_staging_folder_for_good(tiny_root: Path, tmp_path: Path) -> None:
    lock_path = tiny_root / "weights.lock"
    store = tmp_path / "store"
    stale = store / ".tiny-controlnet-sd15.partial-999999"  # a pull killed mid-download
    stale.mkdir(parents=True)
    (stale / "big.safetensors").write_bytes(b"\0" * 1024)
    pull(WeightsLock.load(lock_path), store, "tiny-controlnet-sd15", say=lambda _m: None)
    assert not stale.exists()
    assert not list(store.glob(".*.partial-*"))


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('controlnet = "m"\n', "'m' is a pipeline, 'm' a pipeline"),
        ("files = [{path = 5}]\n", "a file's 'path' must be text, not 5"),
        ('files = [{path = "a.json", size = "abc"}]\n', "size must be a whole number of bytes"),
        ('files = [{path = "a.json", size = -3}]\n', "size must be a whole number of bytes"),
        ('files = [{path = "./a.json"}]\n', "write the path plainly, as 'a.json'"),
        ("variant = 3\n", "field 'variant' must be text, not 3"),
        ('files = "a.json"\n', "field 'files' must be a list"),
        *(
            (f'files = [{{path = "{name}", sha256 = ""}}]\n', "pickle format refused")
            for name in ("model.ckpt", "unet/diffusion_pytorch_model.bin", "x.pt")
        ),
    ],
)
def test_malformed_lock_entries_are_named(tmp_path: Path, entry: str, message: str) -> None:
    lock = tmp_path / "weights.lock"
    base = '[models.m]\nkind = "pipeline"\narchitecture = "sd15"\nrepo = "hf:a/b"\n'
    if "files" not in entry:
        base += 'files = [{path = "a.json"}]\n'
    lock.write_text(base + entry, encoding="utf-8")
    with pytest.raises(WeightsError, match=f"^{lock}: model 'm'.*{re.escape(message)}"):
        WeightsLock.load(lock)


def test_a_pipeline_must_name_a_controlnet_of_its_architecture(tmp_path: Path) -> None:
    lock = tmp_path / "weights.lock"
    lock.write_text(
        '[models.xl-cn]\nkind = "controlnet"\narchitecture = "sdxl"\nrepo = "hf:a/c"\n'
        'files = [{path = "a.json"}]\n'
        '[models.m]\nkind = "pipeline"\narchitecture = "sd15"\nrepo = "hf:a/b"\n'
        'controlnet = "xl-cn"\nfiles = [{path = "a.json"}]\n',
        encoding="utf-8",
    )
    with pytest.raises(WeightsError, match="'xl-cn' is for sdxl, 'm' is sd15"):
        WeightsLock.load(lock)
    for bad in ("models = 5\n", ""):
        lock.write_text(bad, encoding="utf-8")
        if bad:
            with pytest.raises(WeightsError, match="'models' must be a table"):
                WeightsLock.load(lock)
    with pytest.raises(WeightsError, match="cannot read the weights lock"):
        WeightsLock.load(tmp_path)  # a folder


def test_hub_reachable_uses_the_mirrors_port(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hub mirror on its own port (HF_ENDPOINT=http://host:18080) is reached there."""
    import socket

    from bgart.generation import hub_reachable

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
        assert hub_reachable() is None
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_weights_commands_use_the_project_they_run_in(
    tiny_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`bgart weights pull` run inside a project pulls into the store its bgart.toml names,
    the store `bgart batch` in that project loads from."""
    from bgart.cli import main

    for key in ("BGART_MODEL_STORE", "BGART_PROJECT_DIR"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("BGART_WEIGHTS_LOCK", str(tiny_root / "weights.lock"))
    project = tmp_path / "show"
    project.mkdir()
    (project / "bgart.toml").write_text('model_store = "models"\n', encoding="utf-8")
    monkeypatch.chdir(project)
    assert main(["weights", "verify"]) == 0
    assert "no model of" in capsys.readouterr().err  # not "all model files verified"
    assert main(["weights", "pull", "tiny-controlnet-sd15"]) == 0
    assert (project / "models" / "tiny-controlnet-sd15" / "config.json").is_file()
    monkeypatch.chdir(tmp_path)
    assert main(["weights", "verify", "--project", str(project)]) == 0
    assert "all model files verified" in capsys.readouterr().err


def test_pulling_a_model_already_in_place_writes_nothing_into_the_store(
    tiny_root: Path, tiny_store: Path, tmp_path: Path
) -> None:
    """A read-only shared store that holds the model: `weights pull` says it is there and
    needs no lock file (it used to fail creating one, with an internal error)."""
    store = _copy_store(tiny_store, tmp_path)
    (store / ".bgart-pull.lock").unlink(missing_ok=True)
    said: list[str] = []
    pull(WeightsLock.load(tiny_root / "weights.lock"), store, "tiny-sd15", say=said.append)
    assert said == [
        "tiny-controlnet-sd15: already pulled and verified",
        "tiny-sd15: already pulled and verified",
    ]
    assert not (store / ".bgart-pull.lock").exists()
