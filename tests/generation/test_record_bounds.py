"""Records read from PNGs are input: bounded before anything is allocated (issue 19, 6)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, PngImagePlugin

from bgart.errors import InputError
from bgart.generation import GenerationRecord, read_record

RECORD: dict[str, Any] = {
    "mode": "layout",
    "model": "tiny-sd15",
    "architecture": "sd15",
    "model_files": {},
    "controlnet": None,
    "prompt": "a street",
    "negative": "",
    "preset": None,
    "scheduler": "euler",
    "steps": 2,
    "guidance": 7.0,
    "controlnet_scale": 0.0,
    "strength": None,
    "width": 1024,
    "height": 1024,
    "seeds": [1],
    "batch_index": 0,
    "device": "cpu",
    "dtype": "float32",
    "record_version": 1,
}


def _plate(tmp_path: Path, text: str) -> Path:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("bgart", text)
    path = tmp_path / "plate.png"
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    return path


def test_a_sound_record_reads(tmp_path: Path) -> None:
    assert read_record(_plate(tmp_path, json.dumps(RECORD))).seeds == (1,)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"seeds": list(range(5000))}, r"field 'seeds' has 5000 seeds, expected 1\.\.16"),
        ({"seeds": []}, r"field 'seeds' has 0 seeds"),
        ({"record_version": 99}, r"record_version 99 is not one this bgart reads"),
        ({"environment": {"gpu": 3}}, r"field 'environment' must map text to text"),
    ],
)
def test_a_hostile_record_is_refused_in_one_line(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    path = _plate(tmp_path, json.dumps(RECORD | change))
    with pytest.raises(InputError, match=f"^{path}: generation record: {message}") as err:
        read_record(path)
    assert "\n" not in str(err.value)


def test_a_deeply_nested_record_is_refused_not_a_recursion_error(tmp_path: Path) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    text = json.dumps(RECORD)[:-1] + f', "extra": {{"x": {deep}}}}}'
    path = _plate(tmp_path, text)
    with pytest.raises(InputError, match=r"nested 100002 levels deep, at most 8 allowed"):
        read_record(path)
    # brackets inside text are text, not nesting
    quoted = json.dumps(RECORD | {"prompt": "[[[[[[[[[[[[{{{{{{{{{{"})
    assert GenerationRecord.from_json(quoted).prompt.startswith("[[[")
