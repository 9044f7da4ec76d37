"""Style presets: loading, inheritance, composition, and errors that name file and field."""

from __future__ import annotations

import re
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from bgart.errors import InputError
from bgart.inputs import DEFAULTS, Preset, compose, get_preset, join_prompt, load_presets

SHIPPED = Path(__file__).resolve().parents[2] / "prompts"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def raises(match: str) -> AbstractContextManager[pytest.ExceptionInfo[InputError]]:
    return pytest.raises(InputError, match=re.escape(match))


# -- the shipped presets ---------------------------------------------------------------------


def test_shipped_presets_load_and_extend_base() -> None:
    presets = load_presets(SHIPPED)
    assert {"base", "street", "interior", "countryside", "night"} <= set(presets)
    base = presets["base"]
    assert "no humans" in base.positive and "watermark" in base.negative
    assert (base.steps, base.guidance, base.controlnet_scale, base.strength) == (30, 7.0, 1.0, 0.6)
    for name in ("street", "interior", "countryside", "night"):
        preset = presets[name]
        assert preset.positive.startswith(base.positive + ", "), name
        assert preset.negative.startswith(base.negative), name
        assert preset.description and preset.description != base.description
        assert preset.source == SHIPPED / f"{name}.toml"


def test_shipped_preset_compose() -> None:
    night = get_preset(SHIPPED, "night")
    positive, negative = compose(night, "a quiet street after rain")
    assert positive.startswith("a quiet street after rain, anime background art")
    assert positive.endswith(night.positive)
    assert negative == night.negative


# -- inheritance -------------------------------------------------------------------------------


def test_extends_appends_prompts_and_overrides_scalars(tmp_path: Path) -> None:
    write(
        tmp_path,
        "base",
        'positive = "anime bg"\nnegative = "people"\nsteps = 30\n'
        'guidance = 7.0\ndescription = "house style"\n',
    )
    write(
        tmp_path, "street", 'extends = "base"\npositive = "street"\nnegative = "cars"\nsteps = 20\n'
    )
    write(
        tmp_path,
        "rainy",
        'extends = "street"\npositive = "rain, puddles,"\n'
        "strength = 0.45\ncontrolnet_scale = 1.2\n",
    )
    presets = load_presets(tmp_path)
    street, rainy = presets["street"], presets["rainy"]
    assert street.positive == "anime bg, street"
    assert street.negative == "people, cars"
    assert (street.steps, street.guidance, street.description) == (20, 7.0, "house style")
    assert rainy.positive == "anime bg, street, rain, puddles"
    assert rainy.negative == "people, cars"
    assert (rainy.steps, rainy.strength, rainy.controlnet_scale) == (20, 0.45, 1.2)
    assert rainy.source == tmp_path / "rainy.toml"


def test_root_preset_takes_defaults(tmp_path: Path) -> None:
    write(tmp_path, "plain", 'positive = "x"\n')
    p = get_preset(tmp_path, "plain")
    assert p == Preset(
        name="plain", source=tmp_path / "plain.toml", **{**DEFAULTS, "positive": "x"}
    )


def test_integer_guidance_is_a_float(tmp_path: Path) -> None:
    write(tmp_path, "a", "guidance = 7\ncontrolnet_scale = 1\nstrength = 1\n")
    p = get_preset(tmp_path, "a")
    assert isinstance(p.guidance, float) and p.guidance == 7.0
    assert isinstance(p.strength, float)


def test_compose_puts_the_shot_first_and_cleans_commas() -> None:
    p = Preset("s", "painterly, soft light", "text", 30, 7.0, 1.0, 0.6, "", Path("s.toml"))
    assert compose(p, "  old temple, dusk , ") == (
        "old temple, dusk, painterly, soft light",
        "text",
    )
    assert compose(p, "") == ("painterly, soft light", "text")
    assert join_prompt("", " , a ,", "b") == "a, b"


def test_presets_are_frozen() -> None:
    p = get_preset(SHIPPED, "base")
    with pytest.raises(AttributeError):
        p.steps = 5  # type: ignore[misc]


# -- errors name the file and the field --------------------------------------------------------


def test_cycle_is_detected(tmp_path: Path) -> None:
    write(tmp_path, "a", 'extends = "b"\n')
    write(tmp_path, "b", 'extends = "c"\n')
    write(tmp_path, "c", 'extends = "a"\n')
    # The file named is the one whose 'extends' closes the loop.
    with raises(f"{tmp_path / 'c.toml'}: field 'extends': cycle a -> b -> c -> a"):
        load_presets(tmp_path)
    with raises(f"{tmp_path / 'a.toml'}: field 'extends': cycle b -> c -> a -> b"):
        get_preset(tmp_path, "b")


def test_self_extension_is_a_cycle(tmp_path: Path) -> None:
    write(tmp_path, "loop", 'extends = "loop"\n')
    with raises(f"{tmp_path / 'loop.toml'}: field 'extends': cycle loop -> loop"):
        get_preset(tmp_path, "loop")


def test_unknown_parent(tmp_path: Path) -> None:
    write(tmp_path, "base", "")
    write(tmp_path, "street", 'extends = "bsae"\n')
    with raises(
        f"{tmp_path / 'street.toml'}: field 'extends': unknown preset 'bsae' "
        "(available: base, street)"
    ):
        load_presets(tmp_path)


def test_unknown_field_is_named(tmp_path: Path) -> None:
    write(tmp_path, "street", 'positive = "x"\ncfg_scale = 7\n')
    with raises(f"{tmp_path / 'street.toml'}: unknown field 'cfg_scale'"):
        load_presets(tmp_path)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("steps = 0", "field 'steps': must be an integer 1..150"),
        ("steps = 151", "field 'steps': must be an integer 1..150"),
        ("steps = 7.5", "field 'steps': must be an integer 1..150"),
        ("steps = true", "field 'steps': must be an integer 1..150"),
        ('steps = "30"', "field 'steps': must be an integer 1..150"),
        ('guidance = "high"', "field 'guidance': must be a number 0.0..30.0"),
        ("guidance = 31", "field 'guidance': must be a number 0.0..30.0"),
        ("guidance = nan", "field 'guidance': must be a number 0.0..30.0"),
        ("controlnet_scale = -1", "field 'controlnet_scale': must be a number 0.0..2.0"),
        ("strength = 0", "field 'strength': must be a number 0.0 < x <= 1.0"),
        ("strength = 1.5", "field 'strength': must be a number 0.0 < x <= 1.0"),
        ("positive = 5", "field 'positive': must be a string"),
        ('negative = ["a", "b"]', "field 'negative': must be a string"),
        ('extends = ""', "field 'extends': must name a preset"),
        ("description = 3", "field 'description': must be a string"),
    ],
)
def test_bad_values_name_file_and_field(tmp_path: Path, line: str, message: str) -> None:
    write(tmp_path, "street", line + "\n")
    with raises(f"{tmp_path / 'street.toml'}: {message}"):
        load_presets(tmp_path)


def test_relative_folder_gives_relative_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "prompts").mkdir()
    write(tmp_path / "prompts", "street", "steps = 0\n")
    monkeypatch.chdir(tmp_path)
    with raises("prompts/street.toml: field 'steps': must be an integer 1..150"):
        load_presets(Path("prompts"))


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    write(tmp_path, "broken", 'positive = "unclosed\n')
    with raises(f"{tmp_path / 'broken.toml'}: not valid TOML"):
        load_presets(tmp_path)


def test_unknown_preset_lists_the_available_ones(tmp_path: Path) -> None:
    write(tmp_path, "base", "")
    write(tmp_path, "night", 'extends = "base"\n')
    with raises("unknown preset 'nite' (available: base, night)"):
        get_preset(tmp_path, "nite")
    with raises("unknown preset 'x' (available: base, countryside, interior, night, street)"):
        get_preset(SHIPPED, "x")


def test_get_preset_ignores_unrelated_broken_files(tmp_path: Path) -> None:
    write(tmp_path, "base", 'positive = "ok"\n')
    write(tmp_path, "broken", "steps = -3\n")
    assert get_preset(tmp_path, "base").positive == "ok"
    with raises("broken.toml: field 'steps'"):
        load_presets(tmp_path)


def test_missing_folder_and_empty_folder(tmp_path: Path) -> None:
    with raises(f"{tmp_path / 'nope'}: no such presets folder"):
        load_presets(tmp_path / "nope")
    assert load_presets(tmp_path) == {}
    with raises("unknown preset 'base' (available: none)"):
        get_preset(tmp_path, "base")
