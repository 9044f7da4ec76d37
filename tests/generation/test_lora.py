"""Production LoRAs in the engine: weights.lock's `lora` kind, loading through diffusers'
loaders, the record, regeneration, and a plate without a LoRA left exactly as it was."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bgart.errors import InputError, WeightsError
from bgart.generation import (
    Engine,
    GenerationRecord,
    GenerationRequest,
    LoraUse,
    WeightsLock,
    check_record,
    regenerate,
    verify,
)


def _render(engine: Engine, *loras: LoraUse, seed: int = 3) -> Any:
    req = GenerationRequest(
        prompt="a quiet street", width=64, height=64, seeds=[seed], steps=2, loras=loras
    )
    return engine.generate(req)[0]


def _sha(png: bytes) -> str:
    return hashlib.sha256(png).hexdigest()


def _pixels(gen: Any) -> np.ndarray:
    return np.asarray(gen.image, dtype=np.int16)


def test_lock_pins_a_lora_as_one_safetensors_file(tiny_loras: dict[str, Any]) -> None:
    lock = WeightsLock.load(tiny_loras["lock"])
    entry = lock.get(tiny_loras["sd15"])
    assert entry.kind == "lora" and entry.architecture == "sd15"
    assert entry.license == "CC-BY-4.0 (test LoRA)"
    assert [f.path for f in entry.files] == ["lora.safetensors"]
    assert len(entry.files[0].sha256) == 64
    assert verify(lock, tiny_loras["store"], [tiny_loras["sd15"], tiny_loras["sdxl"]]) == []


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            '[{path = "a.safetensors"}, {path = "b.safetensors"}]',
            "a lora pins exactly one .safetensors file",
        ),
        ('[{path = "lora.json"}]', "a lora pins exactly one .safetensors file"),
        ('[{path = "lora.bin"}]', "pickle format refused"),
    ],
)
def test_lock_refuses_a_lora_that_is_not_one_safetensors_file(
    tmp_path: Path, files: str, message: str
) -> None:
    lock = tmp_path / "weights.lock"
    lock.write_text(
        f'[models.style]\nkind = "lora"\narchitecture = "sd15"\nrepo = "hf:o/r"\nfiles = {files}\n'
    )
    with pytest.raises(WeightsError, match=rf"model 'style'.*{message}"):
        WeightsLock.load(lock)


def test_engine_refuses_a_lora_as_base_model(lora_settings: Any, tiny_loras: dict) -> None:
    with pytest.raises(WeightsError, match="is a lora, not a base model"):
        Engine.load(lora_settings, model=tiny_loras["sd15"])


def test_lora_changes_the_plate_and_a_plate_without_one_is_untouched(
    lora_settings: Any, tiny_loras: dict[str, Any]
) -> None:
    engine = Engine.load(lora_settings)
    before = _render(engine)
    styled = _render(engine, LoraUse(tiny_loras["sd15"], 1.0))
    half = _render(engine, LoraUse(tiny_loras["sd15"], 0.5))
    after = _render(engine)
    fresh = _render(Engine.load(lora_settings))  # never saw a LoRA

    assert np.abs(_pixels(styled) - _pixels(before)).max() > 10  # visibly another image
    assert _sha(half.png()) not in (_sha(styled.png()), _sha(before.png()))
    assert _sha(after.png()) == _sha(before.png()) == _sha(fresh.png())
    assert "loras" not in before.record.extra and "loras" not in after.record.extra
    lock = WeightsLock.load(tiny_loras["lock"])
    pinned = lock.get(tiny_loras["sd15"]).files[0]
    assert styled.record.extra["loras"] == [
        {"name": tiny_loras["sd15"], "file": pinned.path, "sha256": pinned.sha256, "scale": 1.0}
    ]
    assert half.record.extra["loras"][0]["scale"] == 0.5


def test_regenerate_with_a_lora_is_byte_identical(
    lora_settings: Any, tiny_loras: dict[str, Any]
) -> None:
    made = _render(Engine.load(lora_settings), LoraUse(tiny_loras["sd15"], 0.8), seed=11)
    record = GenerationRecord.from_json(made.record.to_json())
    again = regenerate(Engine.load(lora_settings), record)
    assert again.png() == made.png()


def test_sdxl_lora_regenerates_byte_identically(
    lora_settings: Any, tiny_loras: dict[str, Any]
) -> None:
    engine = Engine.load(lora_settings, model="tiny-sdxl")
    plain = _render(engine, seed=5)
    made = _render(engine, LoraUse(tiny_loras["sdxl"], 1.0), seed=5)
    assert made.png() != plain.png()
    again = regenerate(Engine.load(lora_settings, model="tiny-sdxl"), made.record)
    assert again.png() == made.png()


def test_bfloat16_engine_keeps_one_dtype_with_a_lora(
    tiny_loras: dict[str, Any], lora_settings: Any
) -> None:
    settings = lora_settings.model_copy(update={"dtype": "bfloat16"})
    engine = Engine.load(settings)
    made = _render(engine, LoraUse(tiny_loras["sd15"], 1.0))
    assert made.record.dtype == "bfloat16"
    assert {d for d, _dev in engine.placement().values()} == {"bfloat16"}
    assert regenerate(Engine.load(settings), made.record).png() == made.png()


def test_record_whose_lora_file_changed_is_refused(
    lora_settings: Any, tiny_loras: dict[str, Any]
) -> None:
    made = _render(Engine.load(lora_settings), LoraUse(tiny_loras["sd15"], 1.0))
    extra = dict(made.record.extra)
    extra["loras"] = [dict(extra["loras"][0], sha256="0" * 64)]
    forged = dataclasses.replace(made.record, extra=extra)
    with pytest.raises(WeightsError, match=r"other weights: LoRA 'tiny-lora-sd15'"):
        regenerate(Engine.load(lora_settings), forged)


def test_record_with_a_malformed_lora_entry_is_refused_before_loading(
    lora_settings: Any, tiny_loras: dict[str, Any]
) -> None:
    made = _render(Engine.load(lora_settings), LoraUse(tiny_loras["sd15"], 1.0))
    for bad in ([{"name": "x"}], "x:1", [{"name": "x", "sha256": "a" * 64, "scale": 9}]):
        forged = dataclasses.replace(made.record, extra={**made.record.extra, "loras": bad})
        with pytest.raises(InputError, match="extra 'loras'"):
            check_record(forged)


def test_wrong_architecture_and_unknown_lora_are_named(
    lora_settings: Any, tiny_loras: dict[str, Any]
) -> None:
    engine = Engine.load(lora_settings, model="tiny-sdxl")
    with pytest.raises(WeightsError, match="LoRA 'tiny-lora-sd15' is for sd15; model 'tiny-sdxl'"):
        _render(engine, LoraUse(tiny_loras["sd15"], 1.0))
    with pytest.raises(WeightsError, match="LoRA 'nope': unknown model 'nope'"):
        _render(engine, LoraUse("nope", 1.0))
    with pytest.raises(WeightsError, match=r"LoRA 'tiny-sd15': weights\.lock names a pipeline"):
        _render(engine, LoraUse("tiny-sd15", 1.0))
    with pytest.raises(InputError, match=r"scale 3\.0 is not a number"):
        _render(engine, LoraUse(tiny_loras["sdxl"], 3.0))
    assert "loras" not in _render(engine).record.extra  # the engine still renders


def test_tampered_lora_file_is_refused_by_name(
    lora_settings: Any, tiny_loras: dict[str, Any], tmp_path: Path
) -> None:
    import shutil

    store = tmp_path / "store"
    shutil.copytree(tiny_loras["store"], store)
    target = store / tiny_loras["sd15"] / "lora.safetensors"
    data = bytearray(target.read_bytes())
    data[-5] ^= 0xFF
    target.write_bytes(bytes(data))
    engine = Engine.load(lora_settings.model_copy(update={"model_store": store}))
    with pytest.raises(WeightsError, match=r"lora\.safetensors: sha256 mismatch"):
        _render(engine, LoraUse(tiny_loras["sd15"], 1.0))


def test_unpinned_lora_is_trusted_on_first_use_then_locked_back(
    tiny_loras: dict[str, Any], tmp_path: Path
) -> None:
    from bgart.fsutil import sha256_file
    from bgart.generation import lock_back, pull

    source = WeightsLock.load(tiny_loras["lock"]).get(tiny_loras["sd15"]).repo
    lock_path = tmp_path / "weights.lock"
    lock_path.write_text(
        '[models.ext-style]\nkind = "lora"\narchitecture = "sd15"\n'
        f'repo = "{source}"\nlicense = "CC-BY-4.0"\n'
        'files = [{path = "lora.safetensors", size = "", sha256 = ""}]\n'
    )
    said: list[str] = []
    store = tmp_path / "store"
    pull(WeightsLock.load(lock_path), store, "ext-style", say=said.append)
    assert any("WARNING: ext-style: lora.safetensors had no sha256" in s for s in said)
    changes = lock_back(lock_path, store)
    assert changes[0] == "ext-style: revision local"
    pinned = WeightsLock.load(lock_path).get("ext-style").files[0]
    assert pinned.sha256 == sha256_file(store / "ext-style" / "lora.safetensors")
    assert (
        pinned.sha256 == WeightsLock.load(tiny_loras["lock"]).get("tiny-lora-sd15").files[0].sha256
    )


def test_lora_is_refused_with_fused_attention_projections(
    lora_settings: Any, tiny_loras: dict[str, Any]
) -> None:
    engine = Engine.load(lora_settings)
    engine.loras.pipe.fuse_qkv_projections()  # what BGART_FUSE_QKV does on CUDA
    with pytest.raises(WeightsError, match="not with fused attention projections"):
        _render(engine, LoraUse(tiny_loras["sd15"], 1.0))


def test_a_failed_lora_set_leaves_the_next_plate_without_any(
    lora_settings: Any, tiny_loras: dict[str, Any]
) -> None:
    engine = Engine.load(lora_settings)
    with pytest.raises(WeightsError, match="LoRA 'nope'"):
        _render(engine, LoraUse(tiny_loras["sd15"], 1.0), LoraUse("nope", 1.0))
    plain = _render(engine)
    assert "loras" not in plain.record.extra
    assert plain.png() == _render(Engine.load(lora_settings)).png()


def test_weights_commands_pull_verify_and_list_a_lora(
    tiny_loras: dict[str, Any], tmp_path: Path
) -> None:
    from helpers.cli import run_in_process

    env = {"BGART_WEIGHTS_LOCK": str(tiny_loras["lock"]), "BGART_MODEL_STORE": str(tmp_path)}
    pulled = run_in_process(["weights", "pull", "tiny-lora-sd15"], env=env)
    assert pulled.returncode == 0, pulled.show()
    assert "tiny-lora-sd15: pulled 1 files at local, all verified" in pulled.stdout + pulled.stderr
    checked = run_in_process(["weights", "verify", "tiny-lora-sd15"], env=env)
    assert checked.returncode == 0 and "all model files verified" in checked.stderr
    listed = run_in_process(["weights", "list"], env=env)
    row = next(line for line in listed.stdout.splitlines() if line.startswith("tiny-lora-sd15"))
    assert row.split()[1:3] == ["lora", "sd15"] and "pulled" in row and "CC-BY-4.0" in row


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_lora_on_cuda_keeps_the_dtype_contract_and_regenerates(
    lora_settings: Any, tiny_loras: dict[str, Any], dtype: str
) -> None:
    import torch

    saved = torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark
    settings = lora_settings.model_copy(
        update={"device": "cuda", "dtype": dtype, "deterministic": True}
    )
    try:
        engine = Engine.load(settings)
        plain = _render(engine)
        made = _render(engine, LoraUse(tiny_loras["sd15"], 1.0))
        after = _render(engine)
        assert {d for d, _dev in engine.placement().values()} == {dtype}
        assert made.png() != plain.png() and after.png() == plain.png()
        assert regenerate(Engine.load(settings), made.record).png() == made.png()
    finally:
        torch.use_deterministic_algorithms(saved[0])
        torch.backends.cudnn.benchmark = saved[1]
