"""LoRAs named by presets (`loras`) and shot lists (the `lora` column): parsing, inheritance,
the render request, and bad values named by file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from bgart.errors import InputError
from bgart.inputs import (
    ImageInput,
    LoraSpec,
    RenderRequest,
    ShotListError,
    active_loras,
    get_preset,
    load_shot_list,
    merge_loras,
    parse_loras,
)
from bgart.settings import Settings, load_settings


def test_text_form_names_scales_and_bare_names() -> None:
    assert parse_loras("bg-style:0.8; brushwork:0.5 ;rain") == (
        LoraSpec("bg-style", 0.8),
        LoraSpec("brushwork", 0.5),
        LoraSpec("rain", 1.0),
    )
    assert parse_loras("") == ()
    for bad, why in [
        ("bg-style:strong", "scale 'strong' is not a number"),
        ("bg-style:0.8;bg-style:0.5", "named twice"),
        ("bg-style:5", "scale 5.0 is not a number -2.0..2.0"),
        ("bad name:1", "LoRA name 'bad name'"),
        ("x:nan", "scale nan"),
    ]:
        with pytest.raises(InputError, match=why):
            parse_loras(bad)


def test_override_changes_by_name_and_zero_takes_one_off() -> None:
    base = parse_loras("style:0.8;grain:0.3")
    merged = merge_loras(base, parse_loras("grain:0;rain:0.5;style:0.6"))
    assert merged == parse_loras("style:0.6;grain:0;rain:0.5")
    assert active_loras(merged) == parse_loras("style:0.6;rain:0.5")


@pytest.fixture
def presets(tmp_path: Path) -> Path:
    folder = tmp_path / "prompts"
    folder.mkdir()
    (folder / "base.toml").write_text('positive = "anime"\nloras = { bg-style = 0.8 }\n')
    (folder / "night.toml").write_text('extends = "base"\nloras = "bg-style:0.5;night-glow:1"\n')
    (folder / "plain.toml").write_text('extends = "base"\nloras = { bg-style = 0 }\n')
    return folder


def test_presets_name_loras_and_children_change_them(presets: Path) -> None:
    assert get_preset(presets, "base").loras == (LoraSpec("bg-style", 0.8),)
    assert get_preset(presets, "night").loras == parse_loras("bg-style:0.5;night-glow:1")
    assert active_loras(get_preset(presets, "plain").loras) == ()


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("loras = 3", "field 'loras': a table"),
        ("loras = { bg-style = 'x' }", "field 'loras': LoRA 'bg-style': scale 'x'"),
        ('loras = "a:1;a:2"', "field 'loras': LoRA 'a' is named twice"),
    ],
)
def test_bad_preset_loras_name_the_file_and_field(tmp_path: Path, text: str, why: str) -> None:
    (tmp_path / "bad.toml").write_text(text + "\n")
    with pytest.raises(InputError, match=f"bad.toml: {why}"):
        get_preset(tmp_path, "bad")


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, presets: Path) -> Settings:
    for key in ("BGART_PROJECT_DIR", "BGART_DEFAULT_PRESET"):
        monkeypatch.delenv(key, raising=False)
    return load_settings(production="Test Show", prompts_dir=str(presets))


def test_shot_list_lora_column(tmp_path: Path, settings: Settings) -> None:
    Image.new("L", (128, 64), 200).save(tmp_path / "a.png")
    path = tmp_path / "ep01.csv"
    path.write_text(
        "shot,layout,prompt,preset,layout_artist,lora\n"
        "C001,a.png,street,base,Sato,bg-style:0.6;rain:0.4\n"
        "C002,a.png,street,night,Sato,\n"
    )
    a, b = load_shot_list(path, settings).shots
    assert a.loras == parse_loras("bg-style:0.6;rain:0.4")
    assert b.loras == ()
    yaml_path = tmp_path / "ep01.yaml"
    yaml_path.write_text(
        "defaults: {layout_artist: Sato, lora: 'bg-style:0.9'}\n"
        "shots:\n  - {shot: C003, layout: a.png, prompt: river}\n"
    )
    (c,) = load_shot_list(yaml_path, settings).shots
    assert c.loras == (LoraSpec("bg-style", 0.9),)


def test_bad_lora_cell_is_named_by_line_and_field(tmp_path: Path, settings: Settings) -> None:
    Image.new("L", (128, 64), 200).save(tmp_path / "a.png")
    path = tmp_path / "ep01.csv"
    path.write_text(
        "shot,layout,prompt,layout_artist,lora\n"
        "C001,a.png,street,Sato,bg-style:0.6\n"
        "C002,a.png,street,Sato,bg-style:lots\n"
    )
    with pytest.raises(ShotListError) as err:
        load_shot_list(path, settings)
    assert err.value.problems == [
        f"{path}:3: field 'lora': LoRA 'bg-style': scale 'lots' is not a number (write name:0.8)"
    ]


def test_render_request_refuses_bad_loras() -> None:
    layout = ImageInput(b"png", "a.png")
    ok = RenderRequest("p", layout, 64, 64, (1,), loras=(LoraSpec("a", 0.5),))
    assert ok.loras == (LoraSpec("a", 0.5),)
    with pytest.raises(InputError, match="render request: field 'loras': LoRA 'a' is named"):
        RenderRequest("p", layout, 64, 64, (1,), loras=(LoraSpec("a"), LoraSpec("a")))
    with pytest.raises(InputError, match="render request: field 'loras'"):
        RenderRequest("p", layout, 64, 64, (1,), loras=("a:1",))  # type: ignore[arg-type]
