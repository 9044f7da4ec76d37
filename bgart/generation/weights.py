"""weights.lock: pinned model files, pulled and verified. Safetensors only.

A lock entry names a source (``hf:owner/repo`` on the Hugging Face hub, or ``file:///dir``),
a pinned revision, a licence and the exact files with size and sha256. ``pull`` downloads at
that revision and refuses any file whose hash differs. An entry whose revision or hashes are
still empty is trusted on first use: the pull records what it got, says so loudly, and
``bgart weights lock`` writes those pins back into weights.lock.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlparse

import tomlkit
from tomlkit.exceptions import ParseError as TomlParseError

from bgart.errors import InputError, WeightsError
from bgart.fsutil import file_lock, read_bounded, sha256_file

ALLOWED_SUFFIXES = {".safetensors", ".json", ".txt"}
PICKLE_SUFFIXES = {".bin", ".ckpt", ".pt", ".pth", ".pkl", ".pickle"}
PIN_FILE = ".bgart-pin.json"
CACHE_FILE = ".bgart-verified.json"
LOCK_FILE = ".bgart-pull.lock"
KINDS = {"pipeline", "controlnet", "lora", "ip_adapter"}
ARCHITECTURES = {"sd15", "sdxl"}

Say = Callable[[str], None]


@dataclass
class FilePin:
    path: str
    size: int | None = None
    sha256: str = ""


@dataclass
class ModelEntry:
    name: str
    kind: str
    architecture: str
    repo: str
    revision: str = ""
    license: str = ""
    controlnet: str | None = None
    ip_adapter: str | None = None  # a pipeline's IP-Adapter for art-board references
    note: str = ""
    variant: str | None = None  # e.g. "fp16": files named *.fp16.safetensors
    files: list[FilePin] = field(default_factory=list)

    @property
    def fully_pinned(self) -> bool:
        return bool(self.revision) and all(f.sha256 and f.size is not None for f in self.files)


def _check_file_name(lock: Path, model: str, rel: str) -> None:
    where = f"{lock}: model '{model}' file '{rel}'"
    if not isinstance(rel, str):
        raise WeightsError(f"{lock}: model '{model}': a file's 'path' must be text, not {rel!r}")
    p = PurePosixPath(rel)
    if p.is_absolute() or ".." in p.parts or not rel:
        raise WeightsError(f"{where}: path must be relative and stay inside the model folder")
    if p.as_posix() != rel or "\\" in rel:  # "./a", "a//b", "a/": one file, several names
        raise WeightsError(
            f"{where}: write the path plainly, as '{p.as_posix()}' "
            "(forward slashes, no './', no doubled or trailing '/')"
        )
    if p.suffix.lower() in PICKLE_SUFFIXES:
        raise WeightsError(f"{where}: pickle format refused (safetensors only)")
    if p.suffix.lower() not in ALLOWED_SUFFIXES:
        raise WeightsError(f"{where}: file type '{p.suffix}' not allowed (safetensors, json, txt)")


#: The largest weights.lock read (a lock pins a few models, a few kB each).
MAX_LOCK_BYTES = 1024 * 1024


def read_lock_text(path: Path) -> str:
    """A weights.lock's text (named by ``BGART_WEIGHTS_LOCK`` or a project), bounded: a
    device, a FIFO or a folder is refused by name, and so is a lock over 1 MiB (exit 2)."""
    if not path.exists() and not path.is_symlink():
        raise WeightsError(f"{path}: weights lock not found")
    try:
        data = read_bounded(path, str(path), MAX_LOCK_BYTES, kind="weights lock", allow_empty=True)
    except InputError as exc:  # a folder, a device, a pipe, too large, no permission
        why = str(exc).removeprefix(f"{path}: ")
        raise WeightsError(f"{path}: cannot read the weights lock ({why})") from None
    return data.decode("utf-8")


@dataclass
class WeightsLock:
    path: Path
    models: dict[str, ModelEntry]

    @classmethod
    def load(cls, path: Path) -> WeightsLock:
        path = Path(path)
        try:
            doc = tomlkit.parse(read_lock_text(path)).unwrap()
        except (TomlParseError, UnicodeDecodeError) as exc:
            raise WeightsError(f"{path}: not valid TOML ({exc})") from None
        tables = doc.get("models") or {}
        if not isinstance(tables, dict):
            raise WeightsError(f"{path}: 'models' must be a table of [models.NAME] tables")
        models: dict[str, ModelEntry] = {}
        for name, raw in tables.items():
            if not isinstance(raw, dict):
                raise WeightsError(f"{path}: [models.{name}] must be a table")
            models[name] = _parse_entry(path, name, raw)
        for entry in models.values():
            _check_link(path, entry, models, "controlnet", entry.controlnet)
            _check_link(path, entry, models, "ip_adapter", entry.ip_adapter)  # art boards
        return cls(path, models)

    def get(self, name: str) -> ModelEntry:
        if name not in self.models:
            known = ", ".join(sorted(self.models)) or "none"
            raise WeightsError(f"unknown model '{name}' (in {self.path}: {known})")
        return self.models[name]

    def with_controlnet(self, name: str) -> list[str]:
        """``name`` and the ControlNet it renders with (that first), as loading needs both."""
        entry = self.get(name)
        adapter = [entry.ip_adapter] if entry.ip_adapter else []  # art-board references
        return ([entry.controlnet] if entry.controlnet else []) + adapter + [name]


def _check_link(
    path: Path, entry: ModelEntry, models: dict[str, ModelEntry], field: str, linked: str | None
) -> None:
    """A pipeline's ``field`` (``controlnet``, ``ip_adapter``) names an entry of that kind
    for its architecture."""
    if linked is None:
        return
    where = f"{path}: model '{entry.name}' field '{field}'"
    other = models.get(linked)
    if other is None:
        raise WeightsError(f"{where}: no model '{linked}' in the lock")
    if entry.kind != "pipeline" or other.kind != field:
        raise WeightsError(
            f"{where}: a pipeline names a model of kind '{field}' "
            f"('{entry.name}' is a {entry.kind}, '{other.name}' a {other.kind})"
        )
    if other.architecture != entry.architecture:
        raise WeightsError(
            f"{where}: '{other.name}' is for {other.architecture}, "
            f"'{entry.name}' is {entry.architecture}"
        )


def _parse_entry(path: Path, name: str, raw: dict[str, Any]) -> ModelEntry:
    where = f"{path}: model '{name}'"
    known = {
        "kind",
        "architecture",
        "repo",
        "revision",
        "license",
        "controlnet",
        "ip_adapter",
        "note",
        "variant",
        "files",
    }
    for key in raw:
        if key not in known:
            raise WeightsError(f"{where}: unknown field '{key}'")
    for key in ("kind", "architecture", "repo"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise WeightsError(f"{where}: field '{key}' is required")
    if raw["kind"] not in KINDS:
        raise WeightsError(f"{where}: field 'kind' must be one of {sorted(KINDS)}")
    if raw["architecture"] not in ARCHITECTURES:
        raise WeightsError(f"{where}: field 'architecture' must be one of {sorted(ARCHITECTURES)}")
    if not raw["repo"].startswith(("hf:", "file://")):
        raise WeightsError(f"{where}: field 'repo' must start with 'hf:' or 'file://'")
    for key in ("revision", "license", "controlnet", "ip_adapter", "note", "variant"):
        if key in raw and not isinstance(raw[key], str):
            raise WeightsError(f"{where}: field '{key}' must be text, not {raw[key]!r}")
    if not isinstance(raw.get("files", []), list):
        raise WeightsError(f"{where}: field 'files' must be a list of {{path, size, sha256}}")
    files = []
    for item in raw.get("files") or []:
        if not isinstance(item, dict) or "path" not in item:
            raise WeightsError(f"{where}: each entry of 'files' needs a 'path'")
        _check_file_name(path, name, item["path"])
        sha = item.get("sha256", "")
        if not isinstance(sha, str) or (
            sha and (len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha))
        ):
            raise WeightsError(f"{where} file '{item['path']}': sha256 is not 64 hex digits")
        size = item.get("size")
        if size == "":
            size = None
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
            raise WeightsError(
                f"{where} file '{item['path']}': size must be a whole number of bytes, not {size!r}"
            )
        files.append(FilePin(item["path"], size, sha))
    if not files:
        raise WeightsError(f"{where}: field 'files' lists no files")
    if raw["kind"] == "controlnet" and raw.get("controlnet"):
        raise WeightsError(f"{where}: a controlnet does not name a controlnet of its own")
    if raw["kind"] == "lora":
        _check_lora_entry(where, raw, files)
    return ModelEntry(
        name=name,
        kind=raw["kind"],
        architecture=raw["architecture"],
        repo=raw["repo"],
        revision=str(raw.get("revision", "")),
        license=str(raw.get("license", "")),
        controlnet=raw.get("controlnet") or None,
        ip_adapter=raw.get("ip_adapter") or None,
        note=str(raw.get("note", "")),
        variant=raw.get("variant") or None,
        files=files,
    )


def _check_lora_entry(where: str, raw: dict[str, Any], files: list[FilePin]) -> None:
    """A LoRA is one safetensors file (diffusers' ``load_lora_weights`` takes one file),
    used with a base model; it names no ControlNet of its own."""
    if raw.get("controlnet"):
        raise WeightsError(f"{where}: a lora does not name a controlnet")
    if len(files) != 1 or not files[0].path.lower().endswith(".safetensors"):
        listed = ", ".join(f.path for f in files)
        raise WeightsError(
            f"{where}: a lora pins exactly one .safetensors file (the LoRA weights), not {listed}"
        )


def lora_file(entry: ModelEntry) -> str:
    """The path of a LoRA's weights file inside its model folder."""
    if entry.kind != "lora":
        raise WeightsError(f"model '{entry.name}' is a {entry.kind}, not a lora")
    return entry.files[0].path


def model_dir(store: Path, name: str) -> Path:
    return Path(store) / name


def _read_pin(folder: Path) -> dict[str, Any] | None:
    """What a pull recorded (repo, revision, per-file size and sha256), or None when there
    is no pin or it is not one (edited, truncated): then nothing is vouched for by it."""
    try:
        pin = json.loads((folder / PIN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not (
        isinstance(pin, dict)
        and isinstance(pin.get("revision"), str)
        and isinstance(pin.get("files"), dict)
        and all(isinstance(v, dict) for v in pin["files"].values())
    ):
        return None
    return pin


def _expected(entry: ModelEntry, pin: dict[str, Any] | None) -> dict[str, tuple[int | None, str]]:
    """Per file: size and sha256 from the lock, else from the trust-on-first-use pin."""
    pinned = (pin or {}).get("files", {})
    out = {}
    for f in entry.files:
        tofu = pinned.get(f.path, {})
        out[f.path] = (
            f.size if f.size is not None else tofu.get("size"),
            f.sha256 or tofu.get("sha256", ""),
        )
    return out


def _stray_pickles(folder: Path) -> list[str]:
    return sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in PICKLE_SUFFIXES
    )


def _extra_files(folder: Path, expected: dict[str, tuple[int | None, str]]) -> list[str]:
    """Files in a model folder that the lock does not pin (pickles are reported apart)."""
    own = {PIN_FILE, CACHE_FILE}
    return sorted(
        rel
        for p in folder.rglob("*")
        if (p.is_file() or p.is_symlink())
        and (rel := p.relative_to(folder).as_posix()) not in expected
        and rel not in own
        and p.suffix.lower() not in PICKLE_SUFFIXES
        and not (rel.startswith(f"{CACHE_FILE}.") and rel.endswith(".tmp"))  # a racing save
    )


def verify(
    lock: WeightsLock, store: Path, names: list[str] | None = None, *, use_cache: bool = False
) -> list[str]:
    """Problems with the local copies of ``names`` (all pulled models when None), one line each.

    Every file is re-hashed unless ``use_cache`` (then a file whose size and mtime match the
    last verified ones is not re-read: the engine's fast path on each load).
    """
    problems: list[str] = []
    selected = (
        names if names is not None else [n for n in lock.models if model_dir(store, n).exists()]
    )
    for name in selected:
        entry = lock.get(name)
        folder = model_dir(store, name)
        if not folder.exists():
            problems.append(f"{name}: not pulled (run: bgart weights pull {name})")
            continue
        pin = _read_pin(folder)
        if pin is not None and pin.get("repo", entry.repo) != entry.repo:
            problems.append(
                f"{name}: local copy came from {pin['repo']}, the lock names "
                f"{entry.repo} (run: bgart weights pull {name} to replace it)"
            )
            continue
        if entry.revision and pin and pin.get("revision") not in (entry.revision, None):
            problems.append(
                f"{name}: local copy is revision {pin.get('revision')}, lock pins {entry.revision}"
            )
        for rel in _stray_pickles(folder):
            problems.append(f"{folder / rel}: pickle file refused (safetensors only)")
        expected = _expected(entry, pin)
        for rel in _extra_files(folder, expected):
            problems.append(
                f"{folder / rel}: not in {lock.path} (a model folder holds only "
                "the pinned files; remove it or re-pull)"
            )
        cache = _load_cache(folder) if use_cache else {}
        new_cache: dict[str, list[Any]] = {}
        for rel, (size, sha) in expected.items():
            path = folder / rel
            if not path.is_file():
                problems.append(f"{path}: missing")
                continue
            st = path.stat()
            if size is not None and st.st_size != size:
                problems.append(f"{path}: size {st.st_size}, expected {size}")
                continue
            cached = cache.get(rel)
            # ctime and inode too: a file rewritten in place with its mtime put back (utime)
            # still gets a new ctime, so the cache never vouches for bytes it did not hash.
            stamp = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
            if cached and len(cached) == 5 and cached[:2] + cached[3:] == stamp:
                actual = cached[2]
            else:
                try:
                    actual = sha256_file(path)
                except OSError as exc:
                    problems.append(f"{path}: cannot read ({exc.strerror or exc})")
                    continue
            if not sha:
                problems.append(f"{path}: no sha256 pinned (run: bgart weights pull {name})")
            elif actual != sha:
                problems.append(f"{path}: sha256 mismatch (file altered or corrupt)")
                continue
            new_cache[rel] = [st.st_size, st.st_mtime_ns, actual, st.st_ctime_ns, st.st_ino]
        _save_cache(folder, new_cache)
    return problems


def _load_cache(folder: Path) -> dict[str, list[Any]]:
    try:
        cache = json.loads((folder / CACHE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(cache, dict):
        return {}
    return {k: v for k, v in cache.items() if isinstance(v, list)}


def _save_cache(folder: Path, cache: dict[str, list[Any]]) -> None:
    tmp = folder / f"{CACHE_FILE}.{os.getpid()}.tmp"
    try:
        tmp.write_text(json.dumps(cache), encoding="utf-8")
        os.replace(tmp, folder / CACHE_FILE)
    except OSError:
        tmp.unlink(missing_ok=True)


def ensure_ready(lock: WeightsLock, store: Path, name: str) -> Path:
    """The verified local folder of model ``name``; raises WeightsError naming each bad file."""
    problems = verify(lock, store, [name], use_cache=True)
    if problems:
        raise WeightsError(f"model '{name}' refused: " + "; ".join(problems))
    return model_dir(store, name)


_held = threading.local()  # per thread: {store: depth} of the store locks it holds


@contextmanager
def store_lock(store: Path, say: Say | None = None) -> Iterator[None]:
    """Pull into ``store`` alone: a blocking ``flock`` on a file in the store.

    Another process pulling into the same store (another rank of a launched batch, another
    machine on a shared store, a ``bgart weights pull`` in another terminal) waits here, then
    finds the model in place instead of downloading it a second time. Re-entrant within a
    thread. Where the file system cannot lock, the pull goes on unlocked (it still lands
    whole: staging folder, then one rename).
    """
    store = Path(store)
    key = str(store.absolute())
    depth: dict[str, int] = _held.__dict__.setdefault("depth", {})
    if depth.get(key):
        depth[key] += 1
        try:
            yield
        finally:
            depth[key] -= 1
        return

    def busy() -> None:
        if say is not None:
            say(f"another process is pulling into {store}; waiting for it")

    with ExitStack() as held:
        try:
            store.mkdir(parents=True, exist_ok=True)
            held.enter_context(file_lock(store / LOCK_FILE, busy=busy))
        except OSError as exc:  # a read-only shared store, no permission
            raise WeightsError(
                f"{store}: cannot write in the model store ({exc.strerror or exc})"
            ) from None
        depth[key] = 1
        try:
            yield
        finally:
            depth[key] = 0


def pull_if_missing(lock: WeightsLock, store: Path, name: str, say: Say = print) -> None:
    """Pull model ``name`` and its ControlNet where they were never pulled into ``store``.

    Safe to call from many processes at once (every rank of a launched batch does): they
    take turns on :func:`store_lock`, so each model is downloaded once per store. A model
    that is present but fails verification is left as it is: loading it then names its bad
    files, rather than a download quietly replacing what someone changed.
    """
    needed = lock.with_controlnet(name)
    if all(model_dir(store, n).exists() for n in needed):
        return  # the usual case: no lock file written, nothing said
    with store_lock(store, say):
        for n in needed:
            if not model_dir(store, n).exists():
                say(f"{n}: not pulled on this machine yet; pulling it now")
                pull(lock, store, n, say)


def _fetch_file(entry: ModelEntry, revision: str, rel: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if entry.repo.startswith("file://"):
        src = Path(unquote(urlparse(entry.repo).path)) / rel
        if not src.is_file():
            raise WeightsError(f"{entry.name}: source file {src} not found")
        shutil.copyfile(src, dest)
        return
    from huggingface_hub import hf_hub_download

    repo_id = entry.repo.removeprefix("hf:")
    try:
        got = hf_hub_download(repo_id, rel, revision=revision)
    except Exception as exc:  # network, 404, offline mode: all end the pull with one line
        raise WeightsError(
            f"{entry.name}: cannot download {repo_id}/{rel}@{revision}: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        ) from None
    shutil.copyfile(got, dest)


def hub_reachable(timeout: float = 3.0) -> str | None:
    """None when the hub can be reached, else why not (checked in seconds, not retried)."""
    import socket

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return "HF_HUB_OFFLINE is set"
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host = url.hostname or ""
    try:
        port = url.port or (80 if url.scheme == "http" else 443)  # a mirror on its own port
        socket.create_connection((host, port), timeout=timeout).close()
    except ValueError:
        return f"HF_ENDPOINT {url.geturl()!r}: not a valid URL"
    except OSError as exc:
        return f"cannot reach {host} ({exc.strerror or exc})"
    return None


def _resolve_revision(entry: ModelEntry, say: Say) -> str:
    if entry.revision:
        return entry.revision
    if entry.repo.startswith("file://"):
        return "local"
    from huggingface_hub import HfApi

    repo_id = entry.repo.removeprefix("hf:")
    try:
        sha = HfApi().model_info(repo_id).sha
    except Exception as exc:
        raise WeightsError(
            f"{entry.name}: cannot resolve a revision of {repo_id}: {type(exc).__name__}"
        ) from None
    say(
        f"WARNING: {entry.name} has no pinned revision in the lock; trusting {repo_id}@{sha} "
        "on first use. Run `bgart weights lock` to pin it."
    )
    return str(sha)


def pull(lock: WeightsLock, store: Path, name: str, say: Say = print) -> Path:
    """Download ``name`` (and its default ControlNet) at the pinned revision and verify it.

    Files land in a temporary folder and move into place only when every hash matched, so
    an interrupted or refused pull never leaves a half-verified model behind. Holds
    :func:`store_lock` throughout.
    """
    needed = lock.with_controlnet(name)
    if all(model_dir(store, n).exists() for n in needed) and not verify(lock, store, needed):
        for n in needed:  # nothing to write: no lock needed (a read-only shared store)
            say(f"{n}: already pulled and verified")
        return model_dir(store, name)
    with store_lock(store, say):
        return _pull(lock, store, name, say)


def _pull(lock: WeightsLock, store: Path, name: str, say: Say) -> Path:
    entry = lock.get(name)
    if entry.controlnet:
        _pull(lock, store, entry.controlnet, say)
    if entry.ip_adapter:
        _pull(lock, store, entry.ip_adapter, say)
    folder = model_dir(store, name)
    if folder.exists() and not verify(lock, store, [name]):
        say(f"{name}: already pulled and verified")
        return folder
    # What this machine trusted on first use from the same source stays the expectation:
    # a re-pull (after a damaged file) must not quietly trust whatever the source has now.
    prior = _read_pin(folder) if folder.exists() else None
    if prior is not None and prior.get("repo", entry.repo) != entry.repo:
        prior = None  # another source (the lock's repo changed): it vouches for nothing here
    trusted = prior["files"] if prior is not None else {}
    if entry.repo.startswith("hf:"):
        why = hub_reachable()
        if why:
            raise WeightsError(f"{name}: cannot pull {entry.repo}: {why}")
    if not entry.revision and prior is not None:
        revision = str(prior["revision"])
        say(f"{name}: pulling again at {revision}, the revision this machine trusted on first use")
    else:
        revision = _resolve_revision(entry, say)
    # Staging folders of a killed pull (gigabytes each); we hold the store lock, so no other
    # pull is using one.
    for old in Path(store).glob(f".{name}.partial-*"):
        shutil.rmtree(old, ignore_errors=True)
    staging = Path(store) / f".{name}.partial-{os.getpid()}"
    staging.mkdir(parents=True)
    pins: dict[str, dict[str, Any]] = {}
    try:
        for f in entry.files:
            dest = staging / f.path
            _fetch_file(entry, revision, f.path, dest)
            size, sha = dest.stat().st_size, sha256_file(dest)
            if f.sha256 and sha != f.sha256:
                raise WeightsError(
                    f"{entry.name}: {f.path}: sha256 mismatch with {lock.path} (download refused)"
                )
            if f.size is not None and size != f.size:
                raise WeightsError(f"{entry.name}: {f.path}: size {size}, lock says {f.size}")
            before = trusted.get(f.path, {})
            if (
                not f.sha256
                and before.get("sha256")
                and (before["sha256"], before.get("size", size)) != (sha, size)
            ):
                raise WeightsError(
                    f"{entry.name}: {f.path}: the source now has other bytes (sha256 "
                    f"{sha[:16]}…) than this machine trusted on first use "
                    f"({str(before['sha256'])[:16]}…); download refused. If the change is "
                    f"meant, remove {folder} and pull again, then `bgart weights lock`"
                )
            if not f.sha256 and not before.get("sha256"):
                say(
                    f"WARNING: {entry.name}: {f.path} had no sha256 in the lock; trusting "
                    f"{sha[:16]}… on first use. Run `bgart weights lock` to pin it."
                )
            pins[f.path] = {"size": size, "sha256": sha}
        (staging / PIN_FILE).write_text(
            json.dumps(
                {"repo": entry.repo, "revision": revision, "files": pins},
                indent=2,
            ),
            encoding="utf-8",
        )
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    say(f"{name}: pulled {len(entry.files)} files at {revision}, all verified")
    return folder


def lock_back(lock_path: Path, store: Path) -> list[str]:
    """Write revisions and hashes learnt on first use back into the lock; returns what changed.

    A pin already in the lock is never replaced by a different one: that is an error.
    """
    lock = WeightsLock.load(lock_path)
    doc = tomlkit.parse(read_lock_text(Path(lock_path)))
    changes: list[str] = []
    for name, entry in lock.models.items():
        pin = _read_pin(model_dir(store, name))
        if not pin:
            continue
        if pin.get("repo", entry.repo) != entry.repo:
            raise WeightsError(
                f"{name}: the local copy came from {pin['repo']}, the lock "
                f"names {entry.repo}; pull it again before pinning (nothing "
                "written)"
            )
        table = doc["models"][name]  # type: ignore[index]
        if not entry.revision:
            table["revision"] = pin["revision"]  # type: ignore[index]
            changes.append(f"{name}: revision {pin['revision']}")
        elif entry.revision != pin["revision"]:
            raise WeightsError(
                f"{name}: local revision {pin['revision']} differs from the "
                f"lock's {entry.revision}; re-pull it"
            )
        for item in table["files"]:  # type: ignore[index]
            got = pin["files"].get(item["path"])
            if not got:
                continue
            if not item.get("sha256"):
                item["sha256"] = got["sha256"]
                item["size"] = got["size"]
                changes.append(f"{name}: {item['path']} sha256 {got['sha256'][:16]}…")
            elif item["sha256"] != got["sha256"]:
                raise WeightsError(f"{name}: {item['path']}: local file differs from the lock")
    if changes:
        tmp = Path(lock_path).with_suffix(".lock.tmp")
        tmp.write_text(tomlkit.dumps(doc), encoding="utf-8")
        os.replace(tmp, lock_path)
    return changes


def write_lock_for_local_models(
    lock_path: Path, models: dict[str, dict[str, Any]], *, merge: bool = True
) -> None:
    """Write lock entries for local model folders with every file hashed (tests, tiny models)."""
    lock_path = Path(lock_path)
    doc = (
        tomlkit.parse(lock_path.read_text(encoding="utf-8"))
        if (merge and lock_path.exists())
        else tomlkit.document()
    )
    if "models" not in doc:
        doc["models"] = tomlkit.table(is_super_table=True)
    for name, spec in models.items():
        src = Path(spec["source"]).resolve()
        files = tomlkit.array()
        for p in sorted(src.rglob("*")):
            if p.is_file():
                inline = tomlkit.inline_table()
                inline.update(
                    {
                        "path": p.relative_to(src).as_posix(),
                        "size": p.stat().st_size,
                        "sha256": sha256_file(p),
                    }
                )
                files.append(inline)
        files.multiline(True)
        table = tomlkit.table()
        table.update(
            {
                "kind": spec["kind"],
                "architecture": spec["architecture"],
                "repo": src.as_uri(),
                "revision": "local",
                "license": spec.get("license", ""),
            }
        )
        if spec.get("controlnet"):
            table["controlnet"] = spec["controlnet"]
        if spec.get("ip_adapter"):
            table["ip_adapter"] = spec["ip_adapter"]
        if spec.get("note"):
            table["note"] = spec["note"]
        table["files"] = files
        doc["models"][name] = table  # type: ignore[index]
    lock_path.write_text(tomlkit.dumps(doc), encoding="utf-8")
