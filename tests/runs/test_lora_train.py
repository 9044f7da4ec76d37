"""`bgart lora train`: a LoRA from the production's accepted plates, pinned in weights.lock
with the hash of the file written, usable by a preset at once; resumable when killed."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from helpers.cli import run_in_process
from helpers.reliability import clean_env

from bgart import plates
from bgart.errors import InputError
from bgart.fsutil import sha256_file
from bgart.generation import Engine, GenerationRequest, LoraUse, WeightsLock, regenerate, verify
from bgart.inputs import ImageInput, RenderRequest, get_preset
from bgart.ledger import Project
from bgart.runs.lora_train import LoraJob, accepted_examples, lora_paths, train_production_lora
from bgart.runs.render import plate_request

FAST = ["--steps", "3", "--rank", "2", "--resolution", "64", "--lr", "0.05"]


@pytest.fixture
def show(
    tiny_loras: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_env: dict
) -> dict[str, Any]:
    """A production with two accepted plates and one rejected, its own weights.lock copy."""
    lock = tmp_path / "weights.lock"
    shutil.copyfile(tiny_loras["lock"], lock)
    env = {**tiny_env, "BGART_WEIGHTS_LOCK": str(lock)}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    root = tmp_path / "show"
    with Project.init(root, production="Lora Show") as project:
        engine = Engine.load(project.settings)
        for i, shot in enumerate(("C001", "C002", "C003")):
            req = GenerationRequest(
                prompt=f"street {i}, anime background", width=64, height=64, seeds=[i], steps=2
            )
            made = engine.generate(req)[0]
            plates.record_generated(project, shot, made.png(), made.record, "aki")
            if shot == "C003":
                plates.reject(project, shot, "kei", "redo")
            else:
                plates.accept(project, shot, "kei")
    return {"root": root, "lock": lock, "env": env}


def test_training_set_is_the_accepted_plates_with_their_prompts(show: dict[str, Any]) -> None:
    with Project.open(show["root"]) as project:
        examples = accepted_examples(project)
    assert sorted(e.caption for e in examples) == [
        "street 0, anime background",
        "street 1, anime background",
    ]
    assert all(e.image.size == (64, 64) for e in examples)
    with Project.open(show["root"]) as project:
        small = accepted_examples(project, resolution=32)  # shrunk as read: a 4K episode fits
    assert [e.image.size for e in small] == [(32, 32)] * 2
    assert [e.sha256 for e in small] == [e.sha256 for e in examples]


def test_trained_lora_is_pinned_pulled_and_a_preset_renders_with_it(
    show: dict[str, Any], tmp_path: Path
) -> None:
    from bgart.generation import TrainConfig

    config = TrainConfig(steps=3, rank=2, lr=0.05, resolution=64, checkpoint_every=2)
    said: list[str] = []
    with Project.open(show["root"]) as project:
        result = train_production_lora(project, LoraJob("bg-style", config=config), say=said.append)
        settings = project.settings
        out_file, work = lora_paths(project, "bg-style")
    assert result.path == out_file and out_file.is_file() and not work.exists()
    lock = WeightsLock.load(show["lock"])
    entry = lock.get("bg-style")
    assert (entry.kind, entry.architecture) == ("lora", "sd15")
    assert entry.files[0].sha256 == sha256_file(out_file) == result.sha256
    assert entry.files[0].size == out_file.stat().st_size
    assert "production-internal" in entry.license and "2 accepted plates" in entry.note
    assert verify(lock, settings.model_store, ["bg-style"]) == []
    assert any("pinned" in s for s in said)

    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "styled.toml").write_text('positive = "anime"\nloras = { bg-style = 1.0 }\n')
    (prompts / "plain.toml").write_text('positive = "anime"\n')
    layout = (show["root"] / "layout.png").resolve()
    from PIL import Image

    Image.new("L", (64, 64), 255).save(layout)
    made = {}
    engine = Engine.load(settings)
    for name in ("styled", "plain"):
        render = RenderRequest(
            "a street", ImageInput(layout.read_bytes(), "layout.png"), 64, 64, (4,), steps=2
        )
        req = plate_request(render, get_preset(prompts, name))
        made[name] = engine.generate(req)[0]
    assert plate_request(render, get_preset(prompts, "styled")).loras == (LoraUse("bg-style", 1.0),)
    assert made["styled"].png() != made["plain"].png()
    assert made["styled"].record.extra["loras"][0]["sha256"] == result.sha256
    again = regenerate(Engine.load(settings), made["styled"].record, layout=req.layout)
    assert again.png() == made["styled"].png()


def test_cli_trains_and_refuses_a_name_already_pinned(show: dict[str, Any]) -> None:
    args = ["lora", "train", "--project", str(show["root"]), "--out", "cli-style", *FAST]
    first = run_in_process(args, env=show["env"])
    assert first.returncode == 0, first.show()
    assert "pinned in" in first.stderr and "loras = { cli-style = 0.8 }" in first.stderr
    assert WeightsLock.load(show["lock"]).get("cli-style").kind == "lora"
    again = run_in_process(args, env=show["env"])
    assert again.returncode != 0
    assert "LoRA name 'cli-style': already in" in again.stderr
    assert "cli-style-v2" in again.stderr


def test_cli_refuses_bad_options_and_a_production_with_nothing_accepted(
    show: dict[str, Any], tmp_path: Path
) -> None:
    bad = run_in_process(
        ["lora", "train", "--project", str(show["root"]), "--out", "x", "--rank", "0"],
        env=show["env"],
    )
    assert bad.returncode != 0 and "--rank 0: a whole number 1..256" in bad.stderr
    bad_name = run_in_process(
        ["lora", "train", "--project", str(show["root"]), "--out", "a b", *FAST], env=show["env"]
    )
    assert bad_name.returncode != 0 and "--out 'a b'" in bad_name.stderr
    with Project.init(tmp_path / "empty", production="Empty") as _p:
        pass
    empty = run_in_process(
        ["lora", "train", "--project", str(tmp_path / "empty"), "--out", "x", *FAST],
        env=show["env"],
    )
    assert empty.returncode != 0 and "no accepted plate to train on" in empty.stderr


def test_project_on_the_packaged_lock_gets_its_own_copy_first(show: dict[str, Any]) -> None:
    """A fresh `bgart init` project names bgart's packaged lock: training gives it its own
    copy (named in its bgart.toml, said plainly) and pins there, never in the package."""
    from bgart.runs.lora_train import project_lock
    from bgart.settings import PACKAGE_ROOT

    packaged = PACKAGE_ROOT / "weights.lock"
    before = packaged.read_bytes()
    said: list[str] = []
    with Project.open(show["root"]) as project:
        project.settings = project.settings.model_copy(update={"weights_lock": packaged})
        lock = project_lock(project, "bg-style", said.append)
        assert lock == show["root"] / "weights.lock"
        assert lock.read_bytes() == before and packaged.read_bytes() == before
        assert project.settings.weights_lock == lock
    assert any("its own copy" in line for line in said)
    assert 'weights_lock = "weights.lock"' in (show["root"] / "bgart.toml").read_text()
    # a second project-local file beside a toml still naming the packaged lock is not
    # silently overwritten
    with Project.open(show["root"]) as project:
        project.settings = project.settings.model_copy(update={"weights_lock": packaged})
        with pytest.raises(InputError, match="exists"):
            project_lock(project, "bg-style", said.append)


@pytest.mark.slow
def test_killed_process_resumes_to_the_bytes_of_an_uninterrupted_run(
    show: dict[str, Any], tmp_path: Path
) -> None:
    slow = ["--steps", "24", "--rank", "2", "--resolution", "64", "--checkpoint-every", "4"]
    reference = tmp_path / "reference"
    shutil.copytree(show["root"], reference)
    ref_lock = tmp_path / "ref.lock"
    shutil.copyfile(show["lock"], ref_lock)
    whole = run_in_process(
        ["lora", "train", "--project", str(reference), "--out", "style", *slow],
        env={**show["env"], "BGART_WEIGHTS_LOCK": str(ref_lock)},
    )
    assert whole.returncode == 0, whole.show()

    args = ["lora", "train", "--project", str(show["root"]), "--out", "style", *slow]
    proc = subprocess.Popen(
        [sys.executable, "-m", "bgart.cli", *args],
        env=clean_env(show["env"]),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    work = show["root"] / "loras" / ".train-style"
    deadline = time.monotonic() + 240
    while not any(work.glob("checkpoint-*")) and proc.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint written"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # the render node dies mid-run
    proc.wait()
    assert any(work.glob("checkpoint-*")), "the run ended before it could be killed"
    assert not (show["root"] / "loras" / "style" / "pytorch_lora_weights.safetensors").exists()
    resumed = run_in_process(args, env=show["env"])
    assert resumed.returncode == 0, resumed.show()
    assert "resuming from" in resumed.stderr
    done = show["root"] / "loras" / "style" / "pytorch_lora_weights.safetensors"
    assert done.read_bytes() == (reference / "loras" / "style" / done.name).read_bytes()


def test_a_lora_folder_holding_other_files_is_refused_before_training(
    show: dict[str, Any],
) -> None:
    folder = show["root"] / "loras" / "bg-style"
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("reference")
    with (
        Project.open(show["root"]) as project,
        pytest.raises(InputError, match=r"holds notes\.txt"),
    ):
        train_production_lora(project, LoraJob("bg-style"))
    assert "bg-style" not in WeightsLock.load(show["lock"]).models
    assert (folder / "notes.txt").read_text() == "reference"
