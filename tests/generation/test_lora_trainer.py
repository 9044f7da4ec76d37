"""LoRA training on the tiny models (it need not learn anything there): a few steps,
checkpoints, and a killed run resumed to the same bytes as an uninterrupted one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from bgart.errors import InputError
from bgart.generation import Example, TrainConfig, train_lora


class Killed(Exception):
    """Stands for the process being killed between two steps."""


def _examples() -> list[Example]:
    rng = np.random.default_rng(1)
    return [
        Example(
            Image.fromarray(rng.integers(0, 256, (64, 80, 3), dtype=np.uint8), "RGB"),
            f"plate {i}",
            f"{i + 100:064x}",
        )
        for i in range(2)
    ]


CONFIG = TrainConfig(steps=5, rank=4, lr=1e-3, resolution=64, checkpoint_every=2)


def test_killed_run_resumes_from_its_last_checkpoint_to_the_same_bytes(
    tiny_settings: Any, tmp_path: Path
) -> None:
    whole = train_lora(
        tiny_settings, "tiny-sd15", _examples(), CONFIG, tmp_path / "a.safetensors", tmp_path / "wa"
    )
    seen: list[int] = []

    def kill_after_three(done: int, total: int, loss: float) -> None:
        seen.append(done)
        assert total == 5 and np.isfinite(loss)
        if done == 3:
            raise Killed

    work = tmp_path / "wb"
    with pytest.raises(Killed):
        train_lora(
            tiny_settings,
            "tiny-sd15",
            _examples(),
            CONFIG,
            tmp_path / "b.safetensors",
            work,
            progress=kill_after_three,
        )
    assert [p.name for p in work.iterdir()] == ["checkpoint-2"]
    assert not (tmp_path / "b.safetensors").exists()
    said: list[str] = []
    resumed = train_lora(
        tiny_settings,
        "tiny-sd15",
        _examples(),
        CONFIG,
        tmp_path / "b.safetensors",
        work,
        progress=lambda d, _t, _l: seen.append(d),
        say=said.append,
    )
    assert seen == [1, 2, 3, 3, 4, 5]  # steps 3..5 again after the checkpoint of step 2
    assert resumed.resumed_from == 2 and whole.resumed_from == 0
    assert any("resuming from" in s and "step 2 of 5" in s for s in said)
    assert resumed.sha256 == whole.sha256
    assert (tmp_path / "b.safetensors").read_bytes() == (tmp_path / "a.safetensors").read_bytes()
    assert not work.exists()  # a finished run leaves nothing to resume


def test_checkpoint_of_other_settings_is_not_resumed(tiny_settings: Any, tmp_path: Path) -> None:
    work = tmp_path / "w"

    def stop(done: int, _t: int, _l: float) -> None:
        if done == 2:
            raise Killed

    with pytest.raises(Killed):
        train_lora(tiny_settings, "tiny-sd15", _examples(), CONFIG, tmp_path / "x", work, stop)
    other = TrainConfig(steps=3, rank=4, lr=2e-3, resolution=64, checkpoint_every=2)
    result = train_lora(tiny_settings, "tiny-sd15", _examples(), other, tmp_path / "y", work)
    assert result.resumed_from == 0


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (TrainConfig(steps=0), "--steps 0"),
        (TrainConfig(rank=0), "--rank 0"),
        (TrainConfig(lr=float("nan")), "--lr nan"),
        (TrainConfig(resolution=100), "--resolution 100: a multiple of 8"),
    ],
)
def test_bad_settings_are_named(
    tiny_settings: Any, tmp_path: Path, config: TrainConfig, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        train_lora(tiny_settings, "tiny-sd15", _examples(), config, tmp_path / "o", tmp_path / "w")


def test_no_training_images_is_an_error(tiny_settings: Any, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no training images"):
        train_lora(tiny_settings, "tiny-sd15", [], CONFIG, tmp_path / "o", tmp_path / "w")
