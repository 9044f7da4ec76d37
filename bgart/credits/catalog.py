"""The models a report may name, as the caller's weights.lock pins them (handed in, not read).

A report comes from the ledger alone: credits never open weights.lock (that file belongs to
model management). Whoever builds a report (the CLI) reads the lock and passes what it pins
as a :class:`ModelCatalog`; :meth:`ModelCatalog.use` then states, for a model the ledger
names, its pinned revision and licence and whether the file hashes the ledger recorded match
the pinned ones. A model the catalog does not hold is reported as not in weights.lock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bgart.credits.model import NOT_RECORDED, ModelUse


@dataclass(frozen=True)
class PinnedModel:
    """What weights.lock pins for one model."""

    revision: str | None = None  # None: no revision pinned
    licence: str | None = None  # None: no licence stated
    files: Mapping[str, str] = field(default_factory=dict)
    """sha256 of each file pinned with a hash, by its path in the model folder."""


@dataclass(frozen=True)
class ModelCatalog:
    """Model name → :class:`PinnedModel`, for every model in weights.lock (empty: no lock)."""

    models: Mapping[str, PinnedModel] = field(default_factory=dict)

    def pinned(self, name: str) -> PinnedModel | None:
        """What the lock pins for ``name``; None when the model is not in the lock."""
        return self.models.get(name)

    def use(self, name: str, role: str, files: Mapping[str, str] | None) -> ModelUse:
        """The report's entry for model ``name`` used as ``role``; ``files`` are the file
        hashes the ledger recorded (``<model>/<path>`` → sha256)."""
        entry = self.pinned(name)
        if entry is None:
            return ModelUse(name, role, "not in weights.lock", NOT_RECORDED, "not in weights.lock")
        revision = entry.revision or "not pinned in weights.lock"
        licence = entry.licence or NOT_RECORDED
        mine = {k.split("/", 1)[1]: v for k, v in (files or {}).items() if k.startswith(f"{name}/")}
        pinned = dict(entry.files)
        if not mine:
            weights = "no file hashes recorded"
        elif not pinned:
            weights = "weights.lock pins no hashes"
        else:
            bad = sorted(p for p, sha in mine.items() if p in pinned and pinned[p] != sha)
            weights = (
                "match weights.lock" if not bad else f"differ from weights.lock: {', '.join(bad)}"
            )
        return ModelUse(name, role, revision, licence, weights)


def lora_uses(catalog: ModelCatalog, record: Mapping[str, Any]) -> list[ModelUse]:
    """The production LoRAs a generation record ran with (its ``extra["loras"]``: name, file,
    sha256, scale), each as the report lists a model: role ``lora``, with the revision and
    licence weights.lock pins for it and whether the recorded file hash matches the pin."""
    extra = record.get("extra")
    items = extra.get("loras") if isinstance(extra, Mapping) else None
    out: list[ModelUse] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            continue
        name = item["name"]
        files = {f"{name}/{item.get('file', '')}": str(item.get("sha256", ""))}
        out.append(catalog.use(name, "lora", files))
    return out
