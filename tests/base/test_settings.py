"""Settings: where a value comes from, where its paths point, and errors that name the source."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bgart.errors import InputError
from bgart.inputs import get_preset
from bgart.settings import load_settings


@pytest.fixture(autouse=True)
def _no_bgart_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("BGART_"):
            monkeypatch.delenv(key)


def test_relative_paths_in_bgart_toml_are_the_projects_wherever_the_command_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A show's own presets folder and model store, named relative in its bgart.toml, are
    found from any folder (a batch started from the episode folder used the presets of
    wherever it ran, or none)."""
    project = tmp_path / "show"
    (project / "looks").mkdir(parents=True)
    (project / "looks" / "base.toml").write_text(
        'positive = "watercolour wash"\n', encoding="utf-8"
    )
    (project / "bgart.toml").write_text(
        'prompts_dir = "looks"\nmodel_store = "models"\nsigning_cert = "signing/c.pem"\n',
        encoding="utf-8",
    )
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "looks").mkdir(parents=True)  # a folder of the same name where we stand
    (elsewhere / "looks" / "base.toml").write_text('positive = "not this one"\n', encoding="utf-8")
    monkeypatch.chdir(elsewhere)
    settings = load_settings(project)
    assert settings.prompts_dir == project / "looks"
    assert settings.model_store == project / "models"
    assert settings.signing_cert == project / "signing" / "c.pem"
    assert get_preset(settings.prompts_dir, "base").positive == "watercolour wash"
    # an environment variable is the shell's: relative to where the command runs
    monkeypatch.setenv("BGART_MODEL_STORE", "store")
    assert load_settings(project).model_store == Path("store")


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("BGART_WIDTH", "abc", "BGART_WIDTH: Input should be a valid integer"),
        ("BGART_OFFLOAD", "", "BGART_OFFLOAD: Input should be a valid boolean"),
        ("BGART_MODEL_STORE", "", "BGART_MODEL_STORE: is empty; give a path"),
        ("BGART_WEIGHTS_LOCK", " ", "BGART_WEIGHTS_LOCK: is empty; give a path"),
    ],
)
def test_a_bad_environment_variable_is_named(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(InputError, match=f"^{expected}"):
        load_settings(None)


def test_an_empty_optional_path_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BGART_SIGNING_CERT", "")
    assert load_settings(None).signing_cert is None


def test_a_bad_value_in_bgart_toml_names_the_file_and_an_override_names_itself(
    tmp_path: Path,
) -> None:
    (tmp_path / "bgart.toml").write_text('width = "wide"\n', encoding="utf-8")
    with pytest.raises(
        InputError,
        match=rf"^{tmp_path / 'bgart.toml'}: setting 'width': "
        r"Input should be a valid integer.*\(got 'wide'\)$",
    ):
        load_settings(tmp_path)
    (tmp_path / "bgart.toml").write_text("width = 512\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"^setting 'height': Input should be a valid integer"):
        load_settings(tmp_path, height="tall")


def test_the_cli_prints_one_line_for_a_bad_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bgart.cli import main

    monkeypatch.setenv("BGART_WIDTH", "abc")
    assert main(["weights", "list"]) == 2
    out = capsys.readouterr()
    text = out.out + out.err
    assert "error: BGART_WIDTH: Input should be a valid integer" in text
    assert "internal error" not in text and "pydantic" not in text
