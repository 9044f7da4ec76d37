"""The credits name a plate's production LoRAs: in the model table with their licence from
weights.lock, and on the AI line beside the model they ran with ("model + LoRA")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers.cli import run_in_process

from bgart import plates
from bgart.credits import build_report, plate_credit_lines
from bgart.generation import Engine, GenerationRequest, LoraUse
from bgart.ledger import Project


@pytest.fixture
def show(
    tiny_loras: dict[str, Any], tiny_env: dict[str, str], tmp_path: Path, monkeypatch: Any
) -> dict[str, Any]:
    env = {**tiny_env, "BGART_WEIGHTS_LOCK": str(tiny_loras["lock"])}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    root = tmp_path / "show"
    with Project.init(root, production="Lora Show") as project:
        engine = Engine.load(project.settings)
        for shot, loras in (("C001", (LoraUse(tiny_loras["sd15"], 0.7),)), ("C002", ())):
            req = GenerationRequest("street", 64, 64, [1], steps=2, loras=loras)
            made = engine.generate(req)[0]
            plates.record_generated(project, shot, made.png(), made.record, "aki")
            plates.accept(project, shot, "kei")
    return {"root": root, "env": env, "lora": tiny_loras["sd15"]}


def test_report_lists_the_lora_with_its_licence_and_the_ai_line_names_it(
    show: dict[str, Any],
) -> None:
    from bgart.cli.credits import model_catalog

    with Project.open(show["root"]) as project:
        report = build_report(
            project, catalog=model_catalog(project.settings.weights_lock), thumbnails=False
        )
    by_shot = {p.shot: p for p in report.plates}
    styled, plain = by_shot["C001"], by_shot["C002"]
    lora = [m for m in styled.models if m.role == "lora"]
    assert [(m.name, m.licence, m.weights) for m in lora] == [
        (show["lora"], "CC-BY-4.0 (test LoRA)", "match weights.lock")
    ]
    assert not any(m.role == "lora" for m in plain.models)
    en, ja, _ = plate_credit_lines(styled)
    assert f"tiny-sd15 + {show['lora']}" in en and f"tiny-sd15 + {show['lora']}" in ja
    en_plain, _, _ = plate_credit_lines(plain)
    assert "tiny-sd15" in en_plain and "+" not in en_plain
    summary = report.production_summary.credit_en
    assert f"tiny-sd15 + {show['lora']}" in summary and "tiny-sd15, " in summary


def test_exported_reports_carry_the_lora(show: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "reports"
    res = run_in_process(
        ["credits", "--project", str(show["root"]), "--format", "csv,json", "--out", str(out)],
        env=show["env"],
    )
    assert res.returncode == 0, res.show()
    text = "\n".join(p.read_text(encoding="utf-8") for p in out.rglob("*.csv"))
    assert f"{show['lora']} [lora]" in text and "CC-BY-4.0 (test LoRA)" in text
    (json_file,) = out.rglob("*.json")
    data = json.loads(json_file.read_text(encoding="utf-8"))
    models = [m for p in data["plates"] for m in p["models"] if m["role"] == "lora"]
    assert [m["name"] for m in models] == [show["lora"]]
