"""What each control of the artists' room does, as plain, unit-testable functions.

:class:`Studio` wraps one open project. Every method that acts takes the ``gr.Request`` of the
event first: the logged-in user (``request.username``) is who the ledger credits, and their
role (from the project database) decides what they may do. Everything else is plain values
(strings, numbers, PIL images, the ImageEditor's ``{"background", "layers", "composite"}``
dict; a plate to show is a PNG file path, see :meth:`Studio.plate_file`), so tests call
these methods directly with ``gr.Request(username=...)``.

No business rule lives here: acts go through :mod:`bgart.plates.acts` (the one place that
records events), images through :mod:`bgart.generation.engine`, figures through
:mod:`bgart.provenance.raster`. Problems are raised as :class:`~bgart.errors.BgartError` with a
message for the user; :mod:`bgart.ui.app` shows them on the page.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from bgart import plates as workflow
from bgart import provenance as contrib
from bgart.errors import BgartError, InputError
from bgart.events import Kind
from bgart.fsutil import atomic_write_bytes
from bgart.images import open_image, read_user_file
from bgart.ledger import Project

from .recipe import shot_defaults
from .regions import shot_regions

if TYPE_CHECKING:
    from bgart.generation import Engine
    from bgart.inputs import ImageInput, Shot
    from bgart.runs import EngineState
    from bgart.settings import Settings

log = logging.getLogger("bgart.ui")

IDLE_GAP_SECONDS = 60.0  # a pause longer than this between edits is not active time
STATUS_ALL = "all"
STATUS_CHOICES = (STATUS_ALL, *workflow.SHOT_STATUSES)
THUMB_SIDE = 192
MAX_VARIATIONS = 8
MAX_SEED = 2**32 - 1
MAX_LOGIN_FAILURES = 5  # consecutive wrong passwords before a name is locked for a while
LOCKOUT_SECONDS = 30.0
MAX_TRACKED_NAMES = 10_000
MAX_THUMBS = 1024
MAX_PLATE_FILES = 64  # plate PNGs kept in Gradio's upload folder for the page to show

Progress = Callable[[int, int], None]
EngineLoader = Callable[["Settings"], "Engine"]


def active_seconds(times: Sequence[float], max_gap: float = IDLE_GAP_SECONDS) -> float:
    """Editing time from the moments the editor reported an edit: the sum of the gaps
    between consecutive edits, leaving out every gap longer than ``max_gap`` (the artist
    was away). One edit alone counts nothing."""
    ts = sorted(float(t) for t in times)
    return float(sum(b - a for a, b in itertools.pairwise(ts) if b - a <= max_gap))


def request_user(request: Any) -> str:
    """The logged-in user of a Gradio request (``gr.Request``); refused without one."""
    name = getattr(request, "username", None) if request is not None else None
    if not name:
        raise BgartError("not logged in: reload the page and log in")
    return str(name)


@dataclass(frozen=True)
class ShotCard:
    """One tile of the shots view."""

    code: str
    status: str
    thumb: Image.Image


@dataclass(frozen=True)
class VersionInfo:
    number: int
    label: str


@dataclass
class ShotView:
    """Everything the page shows about one shot."""

    code: str
    status: str
    layout: Image.Image | None
    plate: str | Image.Image | None  # see Studio.plate_file
    versions: list[VersionInfo]
    figures: dict[str, Any] | None
    prompt: str
    preset: str
    seed: int
    variations: int
    width: int | None
    height: int | None

    @property
    def version(self) -> int | None:
        return self.versions[-1].number if self.versions else None


@dataclass(frozen=True)
class Candidate:
    """A generated variation, as recorded (``number`` is its candidate number)."""

    number: int
    image: Image.Image
    seed: int


@dataclass
class _Failures:
    count: int = 0
    locked_until: float = 0.0


@dataclass
class Studio:
    """One project opened for the browser UI (one per UI process).

    ``engine_loader`` loads the model on the first generation (so the UI starts, and says
    "no model" as a message, without weights); ``busy_timeout`` is how long an act waits
    for the accelerator before answering "GPU busy".
    """

    project: Project
    engine_loader: EngineLoader | None = None
    busy_timeout: float = 2.0
    clock: Callable[[], float] = time.time
    shot_info: dict[str, Shot] = field(default_factory=dict)
    _engine: Engine | None = field(default=None, init=False, repr=False)
    _memory: EngineState | None = field(default=None, init=False, repr=False)
    _gpu: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)
    _thumbs: dict[str, Image.Image] = field(default_factory=dict, init=False, repr=False)
    _failures: dict[str, _Failures] = field(default_factory=dict, init=False, repr=False)

    @property
    def settings(self) -> Settings:
        return self.project.settings

    @property
    def production(self) -> str:
        return self.settings.production

    # --- logging in ------------------------------------------------------------------------
    def authenticate(self, name: str, password: str) -> bool:
        """Gradio's ``auth`` callable: the project's users and their salted hashes.

        After :data:`MAX_LOGIN_FAILURES` wrong passwords in a row a name is refused for
        :data:`LOCKOUT_SECONDS` without checking, to slow down guessing.
        """
        name = (name or "").strip()
        now = self.clock()
        with self._lock:
            if len(self._failures) > MAX_TRACKED_NAMES:  # names tried at random: forget them
                self._failures = {k: v for k, v in self._failures.items() if v.locked_until > now}
            state = self._failures.setdefault(name, _Failures())
            if state.locked_until > now:
                return False
        ok = bool(name) and self.project.ledger.check_password(name, password or "")
        with self._lock:
            if ok:
                self._failures.pop(name, None)
            else:
                state.count += 1
                if state.count >= MAX_LOGIN_FAILURES:
                    state.count = 0
                    state.locked_until = now + LOCKOUT_SECONDS
                    log.warning(
                        "login: '%s' locked for %.0f s after repeated failures",
                        name,
                        LOCKOUT_SECONDS,
                    )
        return ok

    def locked_for(self, name: str) -> float:
        """Seconds until ``name`` may try to log in again (0: not locked), for the login
        page's message (:mod:`bgart.ui.server` shows it instead of "Incorrect Credentials")."""
        with self._lock:
            state = self._failures.get((name or "").strip())
            return max(0.0, state.locked_until - self.clock()) if state is not None else 0.0

    def whoami(self, request: Any) -> tuple[str, str]:
        """(user, role) of the request's logged-in user, who must be in the project."""
        name = request_user(request)
        user = self.project.ledger.user(name)
        if user is None:
            raise BgartError(f"user '{name}' is not in this project (ask an admin to add you)")
        return user.name, user.role

    def may_review(self, request: Any) -> bool:
        return self.whoami(request)[1] in workflow.REVIEWER_ROLES

    # --- shots ------------------------------------------------------------------------------
    def import_shot_list(self, path: Path | str) -> list[str]:
        """Bring a shot list's shots in: each layout is recorded (``layout.imported``,
        credited to the list's layout artist, once) and the list's prompt, preset, seed and
        size become the shot's defaults here."""
        from bgart.inputs import load_shot_list

        shot_list = load_shot_list(path, self.settings)
        codes = []
        for shot in shot_list.shots:
            rel = shot.layout.relative_to(shot_list.folder).as_posix()
            with self._lock:
                workflow.record_layout(
                    self.project,
                    shot.id,
                    read_user_file(shot.layout, str(shot.layout)),
                    shot.layout_artist,
                    filename=rel,
                )
            self.shot_info[shot.id] = shot
            codes.append(shot.id)
        return codes

    def shot_codes(self) -> list[str]:
        """Shots of the shot list first (in its order), then every other shot in the ledger."""
        codes = list(self.shot_info)
        seen = set(codes)
        codes += [c for c in workflow.shot_codes(self.project) if c not in seen]
        return codes

    def shots(self, status: str = STATUS_ALL) -> list[ShotCard]:
        """The shots view: each shot with its status and a thumbnail (plate, else layout)."""
        if status not in STATUS_CHOICES:
            raise InputError(f"status filter '{status}': one of {', '.join(STATUS_CHOICES)}")
        cards = []
        for code in self.shot_codes():
            st = workflow.shot_status(self.project, code)
            if status not in (STATUS_ALL, st):
                continue
            cards.append(ShotCard(code, st, self._thumb(code)))
        return cards

    def new_shot(self, request: Any, code: str, layout: Path | str | bytes | None) -> str:
        """Add a shot from an uploaded layout scan, credited to the uploading user."""
        from bgart.inputs import SHOT_ID

        user, _ = self.whoami(request)
        code = (code or "").strip()
        if not SHOT_ID.match(code):
            raise InputError(
                f"shot id '{code}': use letters, digits, _ . - (max 64), "
                "starting with a letter or digit"
            )
        if layout is None:
            raise InputError("layout: upload the layout scan (PNG or JPEG) first")
        if isinstance(layout, bytes):
            data, filename = layout, None
        else:
            filename = Path(layout).name  # bounded read: no device, pipe or oversized file
            data = read_user_file(
                layout,
                f"uploaded layout {filename}",
                max_bytes=self.settings.max_upload_mb * 1024 * 1024,
            )
        open_image(data, mode=None, name=f"uploaded layout {filename or ''}".strip())
        with self._lock:
            # "New shot" never swaps the layout of a shot that exists (its plates were made
            # from the one recorded, and its layout artist is credited for it)
            if code in self.shot_codes():
                raise InputError(f"shot {code}: already exists; open it in the Shots tab")
            workflow.record_layout(self.project, code, data, user, filename=filename)
        return code

    def _require_shot(self, shot: str | None) -> str:
        code = (shot or "").strip()
        if not code:
            raise InputError("no shot chosen: pick one in the Shots tab")
        if code not in self.shot_info and code not in workflow.shot_codes(self.project):
            raise InputError(f"shot {code}: not in this project")
        return code

    def open_shot(self, shot: str | None) -> ShotView:
        """What the page shows for ``shot``: layout, plate, history, figures, defaults."""
        code = self._require_shot(shot)
        with self._lock:
            layout_bytes = workflow.shot_layout(self.project, code)
            versions = self._versions(code)
            plate = figures = plate_size = None
            if versions:
                height, width = workflow.plate_state(self.project, code).image.shape[:2]
                plate_size = (width, height)
                plate = self.plate_file(code)
                figures = workflow.plate_figures(self.project, code)
            status = workflow.shot_status(self.project, code)
        layout = (
            open_image(layout_bytes, mode="RGB", name=f"layout of shot {code}")
            if layout_bytes is not None
            else None
        )
        info = self.shot_info.get(code)
        size = (
            plate_size
            if plate_size is not None
            else (info.width, info.height)
            if info is not None
            else self._default_size(layout)
            if layout is not None
            else (None, None)
        )
        return ShotView(
            code=code,
            status=status,
            layout=layout,
            plate=plate,
            versions=versions,
            figures=figures,
            **shot_defaults(self, code, info, MAX_VARIATIONS),  # shot list, else the batch's
            width=size[0],
            height=size[1],
        )

    def _versions(self, code: str) -> list[VersionInfo]:
        events = {ev.seq: ev for ev in self.project.ledger.events(shot=code, plate=workflow.PLATE)}
        out = []
        for pv in workflow.plate_versions(self.project, code):
            ev = events.get(pv.event_seq)
            what = f"{ev.kind} by {ev.actor}" if ev is not None else "?"
            out.append(VersionInfo(pv.number, f"v{pv.number} · {what} · {pv.created_at[:19]}"))
        return out

    def _default_size(self, layout: Image.Image) -> tuple[int, int]:
        from bgart.inputs import plate_size_for

        return plate_size_for(
            *layout.size, long_side=max(self.settings.width, self.settings.height)
        )

    def _thumb(self, code: str) -> Image.Image:
        versions = workflow.plate_versions(self.project, code)
        if versions:
            sha = versions[-1].image_sha
        else:
            layout_events = self.project.ledger.events(shot=code, kinds=(Kind.LAYOUT_IMPORTED,))
            if not layout_events:
                return Image.new("RGB", (THUMB_SIDE, THUMB_SIDE * 2 // 3), (200, 200, 200))
            sha = layout_events[-1].blobs["layout"]
        with self._lock:
            hit = self._thumbs.get(sha)
        if hit is None:
            img = open_image(self.project.blobs.get(sha), mode="RGB", name=f"image of {code}")
            img.thumbnail((THUMB_SIDE, THUMB_SIDE))
            with self._lock:
                while len(self._thumbs) >= MAX_THUMBS:  # oldest first
                    self._thumbs.pop(next(iter(self._thumbs)))
                self._thumbs[sha] = hit = img
        return hit

    # --- presets ----------------------------------------------------------------------------
    def presets(self) -> list[str]:
        from bgart.inputs import load_presets

        return sorted(load_presets(self.settings.prompts_dir))

    # --- the engine -------------------------------------------------------------------------
    def _with_engine(self, job: Callable[[Engine], Any]) -> Any:
        """Run ``job`` on the (lazily loaded) engine, one job at a time."""
        if not self._gpu.acquire(timeout=self.busy_timeout):
            raise BgartError("GPU busy: another generation is running; try again when it finishes")
        try:
            engine = self._load_engine()
            try:
                return job(engine)
            except BgartError:
                raise
            except RuntimeError as exc:  # CUDA errors arrive as RuntimeError
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                if "busy" in first.lower():
                    raise BgartError(f"GPU busy: {first}") from None
                log.exception("generation failed")
                raise BgartError(f"generation failed: {first}") from None
        finally:
            self._gpu.release()

    def _load_engine(self) -> Engine:
        if self._engine is None:
            loader = self.engine_loader
            if loader is None:
                from bgart.generation import Engine

                loader = Engine.load
            try:
                self._engine = loader(self.settings)
            except BgartError as exc:
                raise BgartError(f"no model: {exc}") from None
            except (OSError, RuntimeError) as exc:
                first = str(exc).splitlines()[0] if str(exc) else repr(exc)
                if "busy" in first.lower():  # e.g. a GPU in exclusive mode used elsewhere
                    raise BgartError(f"GPU busy: {first}") from None
                raise BgartError(
                    f"no model: {self.settings.model} did not load ({first})"
                ) from None
        return self._engine

    # --- generate ---------------------------------------------------------------------------
    def generate(
        self,
        request: Any,
        shot: str | None,
        preset: str | None,
        prompt: str,
        seed: int | float | None,
        variations: int | float,
        *,
        steps: int | None = None,
        progress: Progress | None = None,
        delivery: str | None = None,
    ) -> list[Candidate]:
        """Layout + preset + prompt → ``variations`` candidates, each recorded as
        ``ai.generated`` requested by the user (the first one becomes the plate when the shot
        has none yet). ``delivery``: the delivery size field (blank: the shot's or the
        project's; bgart.inputs.delivery), the base pass then at the model's size."""
        from bgart.inputs import (
            ImageInput,
            RenderRequest,
            base_size_for,
            consecutive_seeds,
            get_preset,
        )
        from bgart.runs import EngineState, generate_with_fallback, plate_request

        user, _ = self.whoami(request)
        code = self._require_shot(shot)
        if not (prompt or "").strip():
            raise InputError("prompt: empty; describe what the background shows")
        n = _whole(variations, "variations", 1, MAX_VARIATIONS)
        # the variations take seed, seed + 1, …: each must be a seed of its own
        first = _whole(
            seed if seed is not None else 0,
            "seed" if n == 1 else f"seed (with {n} variations)",
            0,
            MAX_SEED - n + 1,
        )
        style = get_preset(self.settings.prompts_dir, preset or self.settings.default_preset)
        layout_bytes = workflow.shot_layout(self.project, code)
        if layout_bytes is None:
            raise InputError(f"shot {code}: no layout yet; add one under Shots › New shot")
        layout = ImageInput(layout_bytes, f"layout of shot {code}")
        width, height = self._plate_size(code, layout)
        size = self._delivery(code, layout, delivery, style.delivery)
        if size is not None:  # the base pass at the model's size, refined up to the delivery
            width, height = base_size_for(size, *self._model_sides())
        req = plate_request(
            RenderRequest(
                prompt=prompt.strip(),
                layout=layout,
                width=width,
                height=height,
                seeds=consecutive_seeds(first, n),
                preset=style.name,
                steps=steps or None,  # None (or 0): the preset's
                delivery=size,
                regions=shot_regions(self, code),  # drawn in the UI, else the shot list's
            ),
            style,
        )
        memory = self._memory = self._memory or EngineState()  # low-memory mode sticks

        def run(engine: Engine) -> Any:
            return generate_with_fallback(engine, req, progress, log.info, code, state=memory)[0]

        results = self._with_engine(run)
        out = []
        with self._lock:
            for result, s in zip(results, req.seeds, strict=True):
                rec = workflow.record_generated(
                    self.project, code, result.png(), result.record, requested_by=user
                )
                out.append(Candidate(int(rec.candidate or 0), result.image, int(s)))
        return out

    def _delivery(
        self, code: str, layout: ImageInput, text: str | None, preset_default: str
    ) -> tuple[int, int] | None:
        """The delivery size of a render from the artists' room: the field's, else the
        shot list's (its defaults resolved), else the preset's, else the project's;
        checked against the layout."""
        from bgart.inputs import delivery_size, parse_delivery

        info = self.shot_info.get(code)
        if not (text or "").strip():
            if info is not None:
                return info.delivery
            text, field = preset_default or self.settings.delivery, "default 'delivery'"
        else:
            field = "delivery"
        src = open_image(layout.data, mode=None, name=layout.name).size
        return delivery_size(parse_delivery(text or "", field), *src, field=field)

    def _model_sides(self) -> tuple[int, int]:
        """(long, short) side of the model's plate size (the settings' width and height)."""
        w, h = self.settings.width, self.settings.height
        return max(w, h), min(w, h)

    def _plate_size(self, code: str, layout: ImageInput) -> tuple[int, int]:
        versions = workflow.plate_versions(self.project, code)
        if versions:  # new candidates match the plate being worked on
            return versions[-1].width, versions[-1].height
        info = self.shot_info.get(code)
        if info is not None:
            return info.width, info.height
        return self._default_size(open_image(layout.data, mode=None, name=layout.name))

    def choose(self, request: Any, shot: str | None, candidate: int | None) -> workflow.Recorded:
        """``variation.selected``: the user picks a candidate; it becomes the plate."""
        user, _ = self.whoami(request)
        code = self._require_shot(shot)
        if candidate is None:
            raise InputError("no variation picked: click one of the generated images first")
        with self._lock:
            return workflow.select_variation(self.project, code, int(candidate), user)

    # --- retouch ----------------------------------------------------------------------------
    def editor_value(self, shot: str | None) -> dict[str, Any] | None:
        """The ImageEditor value for a shot: its plate (as a file, see :meth:`plate_file`)
        as background, no layers yet."""
        background = self.plate_file(shot)
        if background is None:
            return None
        return {"background": background, "layers": [], "composite": None}

    def save_paint(
        self,
        request: Any,
        shot: str | None,
        editor: Mapping[str, Any] | None,
        edit_times: Sequence[float] = (),
    ) -> workflow.Recorded:
        """``human.painted``: the editor's brush layer over the current plate; the active
        time comes from the edit events the page reported (plus now, the save)."""
        user, _ = self.whoami(request)
        code = self._require_shot(shot)
        layer = brush_layer(editor, "paint")
        seconds = active_seconds([*edit_times, self.clock()])
        with self._lock:
            return workflow.record_paint(self.project, code, layer, user, seconds)

    def ai_fix(
        self,
        request: Any,
        shot: str | None,
        mask_editor: Mapping[str, Any] | None,
        prompt: str,
        seed: int | float | None,
        preset: str | None = None,
        edit_times: Sequence[float] = (),
        *,
        progress: Progress | None = None,
    ) -> workflow.Recorded:
        """``ai.inpainted``: the model redoes the area the user painted as a mask; the user
        is recorded as the mask's author."""
        from bgart.generation import InpaintRequest
        from bgart.inputs import compose, get_preset
        from bgart.runs import EngineState, inpaint_with_fallback

        user, _ = self.whoami(request)
        code = self._require_shot(shot)
        layer = brush_layer(mask_editor, "mask")
        mask = layer.getchannel("A").point([0] * 128 + [255] * 128)  # at least half on
        if mask.getbbox() is None:
            raise InputError("mask is empty: paint over the area the AI should redo")
        if not (prompt or "").strip():
            raise InputError("AI fix prompt: empty; say what should be painted in the mask")
        style = get_preset(self.settings.prompts_dir, preset or self.settings.default_preset)
        positive, negative = compose(style, prompt.strip())
        with self._lock:
            state = workflow.plate_state(self.project, code)
        plate = Image.fromarray(np.array(state.image))
        if mask.size != plate.size:
            raise InputError(
                f"mask: is {mask.size[0]}x{mask.size[1]} but the plate is "
                f"{plate.size[0]}x{plate.size[1]}; reload the shot"
            )
        req = InpaintRequest(
            image=plate,
            mask=mask,
            prompt=positive,
            negative=negative,
            seed=_whole(seed if seed is not None else 0, "seed", 0, MAX_SEED),
            steps=style.steps,
            guidance=style.guidance,
            preset=style.name,
        )

        memory = self._memory = self._memory or EngineState()  # low-memory mode sticks

        def run(engine: Engine) -> Any:
            return inpaint_with_fallback(engine, req, progress, memory)

        result = self._with_engine(run)
        seconds = active_seconds([*edit_times, self.clock()])
        with self._lock:
            return workflow.record_inpaint(
                self.project,
                code,
                result.png(),
                mask,
                result.record,
                user,
                active_seconds=seconds,
                based_on=state.number,
            )

    def undo(
        self, request: Any, shot: str | None, version: int | float | None
    ) -> workflow.Recorded:
        """``plate.reverted``: back to an earlier version; the history stays."""
        user, _ = self.whoami(request)
        code = self._require_shot(shot)
        if version is None:
            raise InputError("no version chosen: pick the version to go back to")
        with self._lock:
            return workflow.undo(self.project, code, _whole(version, "version", 1, 2**31), user)

    def submit(
        self, request: Any, shot: str | None, comment: str = "", *, version: int | None = None
    ) -> workflow.Recorded:
        """``plate.submitted``: the artist hands the version on their screen (``version``) in
        for review; refused if someone saved a newer one since."""
        user, _ = self.whoami(request)
        code = self._require_shot(shot)
        with self._lock:
            return workflow.submit(
                self.project, code, user, (comment or "").strip(), version=version
            )

    # --- review -----------------------------------------------------------------------------
    def review(
        self,
        request: Any,
        shot: str | None,
        decision: str,
        comment: str = "",
        *,
        version: int | None = None,
    ) -> workflow.Recorded:
        """``plate.accepted`` / ``plate.rejected`` by a director or admin, of the version on
        their screen (``version``): refused, not recorded, if a newer one was saved since."""
        user, _role = self.whoami(request)
        code = self._require_shot(shot)
        with self._lock:
            return workflow.review(
                self.project, code, decision, user, comment or "", version=version
            )

    def review_image(self, shot: str | None, heat: bool) -> Image.Image | str | None:
        """The current plate (as a file, see :meth:`plate_file`), or the plate with its
        provenance heat map laid over it, full size (the shares are listed beside it, in the
        figures, not drawn into the image; opacity to taste in the Compare tab)."""
        from .compare import heat_overlay

        code = self._require_shot(shot)
        if not heat:
            return self.plate_file(code)
        with self._lock:
            if not workflow.plate_versions(self.project, code):
                return None
            return heat_overlay(self.project, code, 0.6)[0]

    def plate_file(self, shot: str | None) -> str | Image.Image | None:
        """The shot's current plate as a PNG file for the page to show (None: no plate yet;
        the plate as an image, as before, if the file cannot be written).

        Given an image, Gradio encodes it again (Pillow, level 6) for every view: 1.2 s for
        a 4K plate, and each act refreshes four views. The plate's blob already is a PNG
        (bgart's own writer), so it is copied once, named by its sha256, into Gradio's
        upload folder, the only place (with Gradio's cache) the UI serves files from (see
        :mod:`bgart.ui.server`); a PNG that a browser would show otherwise than the plate
        (alpha, palette, 16 bits) is written anew from the plate's pixels.
        """
        from gradio.utils import get_upload_folder

        from bgart.images import encode_png, is_plain_png

        code = self._require_shot(shot)
        with self._lock:
            versions = workflow.plate_versions(self.project, code)
            if not versions:
                return None
            sha = versions[-1].image_sha
            folder = Path(get_upload_folder()) / "bgart-plates"
            target = folder / f"{sha}.png"
            try:
                if target.exists():
                    os.utime(target)  # recently shown: the last to be pruned
                else:
                    data = self.project.blobs.get(sha)
                    if not is_plain_png(data, "RGB"):
                        data = encode_png(workflow.plate_state(self.project, code).image)
                    # whole when read, but a copy: no need to survive a power cut
                    atomic_write_bytes(target, data, durable=False)
                    _prune(folder, keep=MAX_PLATE_FILES)
            except OSError as exc:  # a full or read-only disk must not hide the plate
                log.warning("cannot write %s (%s): showing the plate as an image", target, exc)
                return Image.fromarray(np.array(workflow.plate_state(self.project, code).image))
        return str(target)


def _prune(folder: Path, keep: int) -> None:
    """Delete all but the ``keep`` most recently shown plate files (Gradio has copied each
    into its own cache by the time it is shown; these are only the sources)."""

    def shown_at(path: Path) -> float:
        try:
            return path.stat().st_mtime
        except FileNotFoundError:  # pruned meanwhile by another UI process of the project
            return 0.0

    for old in sorted(folder.glob("*.png"), key=shown_at, reverse=True)[keep:]:
        old.unlink(missing_ok=True)


def brush_layer(editor: Mapping[str, Any] | None, what: str) -> Image.Image:
    """The one RGBA layer the user painted in an ImageEditor value (several are merged,
    bottom to top); refused when nothing was painted."""
    layers = [ly for ly in (editor or {}).get("layers") or [] if ly is not None]
    if not layers:
        raise InputError(f"nothing painted: draw the {what} on the plate first")
    merged: Image.Image | None = None
    for item in layers:
        img = item if isinstance(item, Image.Image) else Image.fromarray(np.asarray(item))
        img = img.convert("RGBA")
        if merged is None:
            merged = img
        elif img.size != merged.size:
            raise InputError(f"{what} layers differ in size; reload the shot")
        else:
            merged = Image.alpha_composite(merged, img)
    assert merged is not None
    if merged.getchannel("A").getbbox() is None:
        raise InputError(f"nothing painted: draw the {what} on the plate first")
    return merged


def describe_figures(figs: Mapping[str, Any] | None) -> str:
    """The live shares and effort figures of a plate, as Markdown."""
    if not figs:
        return "No plate yet."

    def pct(key: str) -> str:
        return contrib.pct(float(figs.get(key, 0.0)), 2)

    who = f" by {figs['approver']}" if figs.get("approver") else ""
    note = f" — “{figs['review_comment']}”" if figs.get("review_comment") else ""
    return (
        f"**Human paint {pct('human_paint_share')}** · AI generated {pct('ai_gen_share')} · "
        f"AI inpainted {pct('ai_inpaint_share')} · human base {pct('human_base_share')}\n\n"
        f"touched by hand {pct('human_touched_share')} · adjusted {pct('adjust_share')} · "
        f"candidates {figs.get('candidates', 0)} · masks {figs.get('masks', 0)} · "
        f"active {float(figs.get('active_seconds', 0.0)):.1f} s · "
        f"GPU {float(figs.get('gpu_seconds', 0.0)):.1f} s · version {figs.get('version')} · "
        f"review: {figs.get('status', 'open')}{who}{note}"
    )


def _whole(value: int | float | str, what: str, lo: int, hi: int) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what}: '{value}' is not a number") from None
    if not math.isfinite(number) or number != int(number) or not lo <= number <= hi:
        raise InputError(f"{what}: {value} must be a whole number from {lo} to {hi}")
    return int(number)
