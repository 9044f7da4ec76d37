"""``bgart lora train``: a production LoRA from the production's accepted plates.

The training set is every plate whose last review decision accepted it: the accepted
version's pixels, captioned with the prompt its generation ran with (the shot's words and the
preset's style). The LoRA is trained on the project's base model
(:func:`bgart.generation.lora_train.train_lora`, resumable from its checkpoints in
``loras/.train-<name>/``), written to ``loras/<name>/pytorch_lora_weights.safetensors`` in the
project, pinned in the project's weights.lock as a ``kind = "lora"`` entry with the sha256 of
the file written, and pulled (copied and verified) into the model store, so that a preset or a
shot list can name it at once.

A name already in weights.lock is refused: plates made with a LoRA regenerate only from the
bytes they were made with, so a retrained LoRA takes a new name (``bg-style-v2``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from bgart.errors import InputError
from bgart.events import REVIEW_KINDS, AiGenerated, Kind, Review
from bgart.fsutil import atomic_write_bytes
from bgart.generation import (
    LORA_FILE,
    Example,
    TrainConfig,
    TrainProgress,
    TrainResult,
    WeightsLock,
    pull,
    train_lora,
    write_lock_for_local_models,
)
from bgart.images import open_image
from bgart.inputs import LORA_NAME
from bgart.ledger import Project
from bgart.plates import plate_names, plate_versions, shot_codes
from bgart.settings import PACKAGE_ROOT, PROJECT_FILE

LORA_DIR = "loras"
Say = Callable[[str], None]


@dataclass(frozen=True)
class LoraJob:
    name: str
    model: str | None = None  # None: the project's model
    config: TrainConfig = field(default_factory=TrainConfig)
    license: str = ""


def lora_paths(project: Project, name: str) -> tuple[Path, Path]:
    """(the LoRA file, the folder of its training checkpoints) in the project."""
    root = project.root / LORA_DIR
    return root / name / LORA_FILE, root / f".train-{name}"


def accepted_examples(project: Project, resolution: int | None = None) -> list[Example]:
    """Every accepted plate of the production (the version its last decision accepted),
    captioned with the prompt that generated it ('' for a plate no model generated).
    With ``resolution``, each image is shrunk at once to cover that square (an episode of
    4K plates would not fit in memory whole)."""
    decisions = (Kind.PLATE_ACCEPTED, Kind.PLATE_REJECTED)
    assert set(decisions) <= REVIEW_KINDS
    out: list[Example] = []
    for shot in shot_codes(project):
        for plate in plate_names(project, shot):
            events = project.ledger.events(shot=shot, plate=plate, kinds=decisions)
            if not events or events[-1].kind != Kind.PLATE_ACCEPTED:
                continue
            number = events[-1].typed(Review).version
            version = next(
                (v for v in plate_versions(project, shot, plate=plate) if v.number == number),
                None,
            )
            if version is None:
                continue
            data = project.blobs.get(version.image_sha)
            image = open_image(data, name=f"shot {shot} plate {plate} v{number}")
            scale = resolution / min(image.size) if resolution else 1.0
            if scale < 1:
                size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
                image = image.resize(size, Image.Resampling.LANCZOS)
            out.append(Example(image, _caption(project, shot, plate), version.image_sha))
    return out


def _caption(project: Project, shot: str, plate: str) -> str:
    generated = project.ledger.events(shot=shot, plate=plate, kinds=(Kind.AI_GENERATED,))
    if not generated:
        return ""
    prompt = generated[-1].typed(AiGenerated).record.get("prompt")
    return prompt if isinstance(prompt, str) else ""


def project_lock(project: Project, name: str, say: Say = print) -> Path:
    """The project's weights.lock, where the LoRA will be pinned under ``name``.

    A project still on bgart's packaged lock first gets its own copy (``weights.lock`` in
    the project, named in its bgart.toml), said plainly: a trained LoRA is the production's,
    and pinning it in the packaged file would be lost on the next install."""
    lock_path = Path(project.settings.weights_lock)
    packaged = PACKAGE_ROOT / "weights.lock"
    if lock_path.resolve() == packaged.resolve():
        own = project.root / "weights.lock"
        if own.exists():
            raise InputError(
                f"{own}: exists, but {project.root / PROJECT_FILE} names bgart's own "
                f'weights.lock ({lock_path}); set weights_lock = "weights.lock" there if '
                "that file is the production's"
            )
        atomic_write_bytes(own, packaged.read_bytes())
        _set_project_setting(project.root / PROJECT_FILE, "weights_lock", "weights.lock")
        project.settings = project.settings.model_copy(update={"weights_lock": own})
        say(
            f"NOTE: {project.root} used bgart's own weights.lock; it now has its own copy, "
            f"{own} (named in {PROJECT_FILE}), where its trained LoRAs are pinned"
        )
        lock_path = own
    lock = WeightsLock.load(lock_path)
    if name in lock.models:
        raise InputError(
            f"LoRA name '{name}': already in {lock_path}; plates made with it regenerate only "
            f"from its pinned bytes, so train under a new name (e.g. {name}-v2)"
        )
    return lock_path


def _set_project_setting(path: Path, key: str, value: str) -> None:
    import tomllib

    import tomli_w

    data = tomllib.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    data[key] = value
    atomic_write_bytes(path, tomli_w.dumps(data).encode("utf-8"))


def _check_folder(out_file: Path) -> None:
    """The LoRA's folder is pinned whole, so it holds the LoRA file alone."""
    folder = out_file.parent
    others = sorted(p.name for p in folder.iterdir() if p != out_file) if folder.is_dir() else []
    if others:
        raise InputError(
            f"{folder}: holds {', '.join(others)}; a LoRA's folder holds its weights file "
            "alone (move them away, or choose another --out)"
        )


def train_production_lora(
    project: Project,
    job: LoraJob,
    progress: TrainProgress | None = None,
    say: Say = print,
) -> TrainResult:
    """Train, write, pin and pull the LoRA ``job.name`` (see the module's docstring)."""
    if not LORA_NAME.match(job.name):
        raise InputError(
            f"--out '{job.name}': a LoRA name is letters, digits, '-', '_', '.' "
            "(its weights.lock name)"
        )
    job.config.check()
    lock_path = project_lock(project, job.name, say)
    settings = project.settings
    model = job.model or settings.model
    examples = accepted_examples(project, job.config.resolution)
    if not examples:
        raise InputError(f"{project.root}: no accepted plate to train on (accept plates first)")
    out_file, work = lora_paths(project, job.name)
    _check_folder(out_file)
    result = train_lora(settings, model, examples, job.config, out_file, work, progress, say)
    entry = WeightsLock.load(lock_path).get(model)
    cfg = job.config
    note = (
        f"production LoRA of {model}: {len(examples)} accepted plates, {cfg.steps} steps, "
        f"rank {cfg.rank}, lr {cfg.lr:g}, resolution {cfg.resolution}, seed {cfg.seed}"
    )
    licence = f"production-internal; base model licence applies ({entry.license or 'not recorded'})"
    write_lock_for_local_models(
        lock_path,
        {
            job.name: dict(
                source=out_file.parent,
                kind="lora",
                architecture=entry.architecture,
                license=job.license or licence,
                note=note,
            )
        },
        merge=True,
    )
    pinned = WeightsLock.load(lock_path).get(job.name)
    if pinned.files[0].sha256 != result.sha256:  # the file changed between write and pin
        raise InputError(f"{out_file}: changed while it was being pinned; train again")
    pull(WeightsLock.load(lock_path), settings.model_store, job.name, say=say)
    say(f"LoRA '{job.name}' pinned in {lock_path} (sha256 {result.sha256[:16]}…)")
    return result
