"""One settings object for the whole tool.

Values come, lowest priority first, from defaults, the project's ``bgart.toml`` and
``BGART_*`` environment variables.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from platformdirs import user_cache_dir, user_data_dir
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bgart.errors import InputError
from bgart.fsutil import MAX_TEXT_BYTES, read_bounded_text

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
PROJECT_FILE = "bgart.toml"


def default_model_store() -> Path:
    return Path(user_data_dir("bgart", appauthor=False)) / "models"


def default_cache_dir() -> Path:
    return Path(user_cache_dir("bgart", appauthor=False))


class Settings(BaseSettings):
    """Runtime settings. Field names map to ``BGART_<NAME>`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="BGART_", extra="ignore")

    project_dir: Path | None = None
    production: str = "Untitled production"
    db_url: str | None = None
    device: str = "auto"  # auto | cuda | mps | cpu
    dtype: str = "auto"  # auto | float16 | bfloat16 | float32
    model: str = "anime-sd15"
    model_store: Path = Field(default_factory=default_model_store)
    cache_dir: Path = Field(default_factory=default_cache_dir)  # per machine, outside projects
    weights_lock: Path = PACKAGE_ROOT / "weights.lock"
    prompts_dir: Path = PACKAGE_ROOT / "prompts"
    default_preset: str = "base"
    width: int = 768
    height: int = 512
    variations: int = 4
    offload: bool = False  # model CPU offload, for small GPUs
    vae_tiling: bool = False
    compile: bool = False  # torch.compile of UNet/ControlNet (CUDA only; cache kept on disk)
    compile_mode: str = "max-autotune-no-cudagraphs"  # or "reduce-overhead" (CUDA graphs)
    # plate sizes served compiled ("1024x1024,1344x768"; empty: width x height); any other
    # size runs eager, on purpose, instead of recompiling (docs/gpu.md)
    compile_sizes: str = ""
    compile_regional: bool = False  # compile only the repeated transformer blocks
    # run-to-run identical CUDA kernels (deterministic algorithms, cuBLAS workspace, no
    # autotuning): the byte-identical claims hold on CUDA only with it (docs/gpu.md)
    deterministic: bool = False
    fuse_qkv: bool = False  # fused attention projections (CUDA only)
    # speed levers, off by default, recorded when on, refused where they cannot run
    # (bgart.generation.levers, docs/gpu.md "Speed levers")
    attention: str = "default"  # SDPA kernel: default | math | efficient | flash | fa3 | cudnn
    fp8: bool = False  # torchao float8 UNet/ControlNet linears (compute capability >= 8.9)
    deepcache: int = 0  # DeepCache interval (2..10; 0 off): changes pixels
    cuda_graphs: bool = False  # with compile: the compiled sizes replayed as CUDA graphs
    channels_last: bool = True
    # bgart batch: write and record shot k on a thread while shot k+1 renders (the GPU
    # would otherwise idle while PNGs are deflated); off: one after the other.
    overlap_writes: bool = True
    cpu_threads: int | None = None
    signing_cert: Path | None = None
    signing_key: Path | None = None
    # RFC 3161 time-stamp authority for C2PA signatures (they then outlive the certificate).
    tsa_url: str | None = None
    grade_b: float = 0.90
    grade_c: float = 0.50
    grade_d: float = 0.20
    # End-roll role headings by role (bgart.toml [credits.headings] / [credits.headings_en]);
    # a role left out keeps its default (bgart.credits.model.ROLL_HEADINGS_JA / _EN).
    credit_headings: dict[str, str] = Field(default_factory=dict)
    credit_headings_en: dict[str, str] = Field(default_factory=dict)
    max_upload_mb: int = 64
    # Delivery size of every plate unless a shot or --delivery says otherwise: "WxH", the
    # short side ("1080") or "" (none: plates at their base size). bgart.inputs.delivery.
    delivery: str = ""
    # Art boards (bgart.toml [artboard]; docs/art-direction.md): the IP-Adapter scale of the
    # board references (a number, "style", "style+layout" or a block table), the drift score
    # over which a batch flags a plate, the seed policy of a location's shots (per location
    # in [artboard.seed_policies]) and the layout dHash distance (bits of 64) of a 兼用 cut.
    artboard_scale: float | str | dict[str, Any] = "style"
    artboard_drift_threshold: float = Field(default=0.25, ge=0.0, le=2.0)
    artboard_seed_policy: Literal["per-shot", "shared"] = "per-shot"
    artboard_seed_policies: dict[str, Literal["per-shot", "shared"]] = Field(default_factory=dict)
    artboard_reuse_distance: int = Field(default=4, ge=0, le=64)

    @field_validator("model_store", "cache_dir", "weights_lock", "prompts_dir", mode="before")
    @classmethod
    def _not_empty(cls, value: Any) -> Any:
        # An empty BGART_MODEL_STORE= would otherwise be Path(""): the current folder.
        if isinstance(value, str) and not value.strip():
            raise ValueError("is empty; give a path")
        return value

    @field_validator(
        "project_dir", "signing_cert", "signing_key", "db_url", "tsa_url", mode="before"
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("tsa_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and (problem := tsa_url_problem(value)):
            raise ValueError(problem)
        return None if value is None else value.strip()


def tsa_url_problem(value: str) -> str | None:
    """Why ``value`` cannot be a time-stamp authority's URL (None: it can)."""
    from urllib.parse import urlsplit

    parts = urlsplit(str(value).strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "not an http(s) URL of a time-stamp authority"
    return None


def _path_fields() -> set[str]:
    return {
        name for name, f in Settings.model_fields.items() if f.annotation in (Path, Path | None)
    }


def _read_project_toml(project_dir: Path) -> dict[str, Any]:
    path = project_dir / PROJECT_FILE
    if not path.exists() and not path.is_symlink():
        return {}
    # bounded, regular files only: a bgart.toml that is /dev/zero or a FIFO is refused by name
    text = read_bounded_text(path, str(path), MAX_TEXT_BYTES, kind="project settings file")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML: {exc}") from None
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):  # [grades] b = 0.9 -> grade_b
            for sub, subval in value.items():
                flat[f"{key.rstrip('s')}_{sub}"] = subval
        else:
            flat[key] = value
    return flat


def project_here(project: Path | None) -> Path | None:
    """``--project`` if given, else the current folder when it is a project (holds
    bgart.toml), else None (``BGART_PROJECT_DIR`` or no project): where ``bgart batch``
    looks too, so commands run in a project folder use its model store and lock."""
    if project is not None:
        return project
    return Path.cwd() if (Path.cwd() / PROJECT_FILE).is_file() else None


def load_settings(project_dir: Path | None = None, **overrides: Any) -> Settings:
    """Settings for ``project_dir`` (its bgart.toml), environment, then explicit overrides.

    Environment variables win over bgart.toml; explicit overrides win over both.
    """
    try:
        base = Settings()
    except ValidationError as exc:
        raise _invalid(exc, lambda field: f"BGART_{field.upper()}") from None
    values: dict[str, Any] = {}
    from_file: set[str] = set()
    toml_path: Path | None = None
    if project_dir is None and base.project_dir is not None:
        project_dir = base.project_dir
    if project_dir is not None:
        project_dir = Path(project_dir).resolve()
        toml_path = project_dir / PROJECT_FILE
        file_values = _read_project_toml(project_dir)
        known = set(Settings.model_fields)
        for key in file_values:
            if key not in known:
                raise InputError(f"{toml_path}: unknown setting '{key}'")
        env_set = {k for k in known if _env_has(k)}
        from_file = {k for k in file_values if k not in env_set}
        for key in from_file:
            value = file_values[key]
            if key in _path_fields() and isinstance(value, str) and value.strip():
                # Relative to the project, not to wherever the command was started.
                value = str(project_dir / Path(value).expanduser())
            values[key] = value
        values["project_dir"] = project_dir
    given = {k: v for k, v in overrides.items() if v is not None}
    values.update(given)

    def source(field: str) -> str:
        if field in given:
            return f"setting '{field}'"
        if field in from_file:
            return f"{toml_path}: setting '{field}'"
        return f"BGART_{field.upper()}"

    try:
        merged = Settings.model_validate({**base.model_dump(), **values})
        return base.model_copy(update=merged.model_dump())
    except ValidationError as exc:
        raise _invalid(exc, source) from None


def _invalid(exc: ValidationError, source: Callable[[str], str]) -> InputError:
    """One line naming where the bad value came from (an environment variable, the
    project's bgart.toml or the command line) and what is wrong with it."""
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    return InputError(f"{source(field)}: {message} (got {first.get('input')!r})")


def _env_has(field: str) -> bool:
    import os

    return f"BGART_{field.upper()}" in os.environ
