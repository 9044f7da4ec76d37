"""External editors (Photoshop, CLIP STUDIO PAINT, Krita): download the plate as PNG or as a
PSD whose bottom layer is the plate, paint there, and upload the result back.

An upload is recorded exactly as ``bgart ledger import-final`` records it (the same library
calls): a flat PNG/JPEG is a whole repainted plate (``record_final``: only visibly changed
pixels are credited); a layered PSD is measured by the contribution definition's PSD rules
(``record_layered_final``: each layer above the plate its artist's, ``@name`` layers named).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr
import numpy as np
from PIL import Image

from bgart import plates as workflow
from bgart.errors import InputError
from bgart.images import open_image, read_user_file

if TYPE_CHECKING:
    from .handlers import Studio

DOWNLOADS = "bgart-downloads"  # inside Gradio's upload folder (served: see bgart.ui.server)


def _folder() -> Path:
    from gradio.utils import get_upload_folder

    folder = Path(get_upload_folder()) / DOWNLOADS
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def plate_download(studio: Studio, shot: str | None, kind: str) -> str:
    """The shot's current plate as a file to download: ``png`` (the plate's own PNG) or
    ``psd`` (one layer, the plate, named with its version: paint on new layers above it)."""
    from bgart.credits import PsdLayer, export_psd

    code = (shot or "").strip()
    if not code:
        raise InputError("no shot chosen: pick one in the Shots tab")
    with studio._lock:
        versions = workflow.plate_versions(studio.project, code)
        if not versions:
            raise InputError(f"shot {code}: no plate yet to download")
        state = workflow.plate_state(studio.project, code)
    number = versions[-1].number
    target = _folder() / f"{code}_v{number}.{kind}"
    if kind == "png":
        source = studio.plate_file(code)
        if isinstance(source, str):
            target.write_bytes(Path(source).read_bytes())
        else:
            Image.fromarray(np.array(state.image)).save(target, "PNG")
    elif kind == "psd":
        plate = Image.fromarray(np.array(state.image)).convert("RGB")
        layer = PsdLayer(f"{code} v{number} (plate: paint on layers above)", plate)
        export_psd(target, [layer], plate.size, composite=plate)
    else:
        raise InputError(f"download: '{kind}' is not png or psd")
    return str(target)


def import_upload(
    studio: Studio, request: Any, shot: str | None, path: str | None, seconds: float = 0.0
) -> list[workflow.Recorded]:
    """Record an uploaded final (PNG/JPEG) or layered PSD over the shot's plate, credited to
    the logged-in user (``@name`` layers of a PSD to their artists), as ``bgart ledger
    import-final`` does; an upload identical to the plate records nothing."""
    user, _ = studio.whoami(request)
    code = (shot or "").strip()
    if not code:
        raise InputError("no shot chosen: pick one in the Shots tab")
    if not path:
        raise InputError("upload: choose the PNG, JPEG or layered PSD first")
    name = Path(path).name
    data = read_user_file(
        path, f"uploaded {name}", max_bytes=studio.settings.max_upload_mb * 1024 * 1024
    )
    with studio._lock:
        if workflow.is_psd(data):
            return workflow.record_layered_final(
                studio.project, code, data, user, seconds, filename=name
            )
        image = open_image(data, mode="RGB", name=f"uploaded {name}")
        return [
            workflow.record_final(
                studio.project, code, image, user, seconds, filename=name, original=data
            )
        ]


@dataclass
class ExternalEditors:
    """Download buttons and the upload of a final or layered PSD (an accordion)."""

    png_btn: gr.Button
    psd_btn: gr.Button
    download: gr.File
    upload: gr.File
    import_btn: gr.Button

    @classmethod
    def build(cls) -> ExternalEditors:
        with gr.Accordion("External editor: PSD/PNG out and back", open=False):
            with gr.Row():
                png_btn = gr.Button("Plate as PNG", size="sm", elem_id="download-png")
                psd_btn = gr.Button("Plate as PSD", size="sm", elem_id="download-psd")
            download = gr.File(label="Download", interactive=False, elem_id="download-file")
            upload = gr.File(
                label="Upload your final (PNG/JPEG) or layered PSD",
                type="filepath",
                file_types=[".png", ".jpg", ".jpeg", ".psd"],
                elem_id="upload-final",
            )
            import_btn = gr.Button("Record the upload", elem_id="upload-final-btn")
        return cls(png_btn, psd_btn, download, upload, import_btn)

    def wire(
        self,
        studio: Studio,
        *,
        shot: Any,
        status: Any,
        guard: Any,
        after_act: Any,
        heat: Any,
        status_filter: Any,
        act_outputs: list[Any],
        message: Any,
    ) -> None:
        common: dict[str, Any] = {"api_visibility": "undocumented"}
        for button, kind in ((self.png_btn, "png"), (self.psd_btn, "psd")):

            def fetch(code: str | None, kind: str = kind) -> dict[Any, Any]:
                path = plate_download(studio, code, kind)
                return {self.download: path, status: message(f"{Path(path).name} ready")}

            fetch.__name__ = f"on_download_{kind}"
            button.click(guard(fetch), [shot], [self.download, status], **common)

        @guard
        def on_import(
            code: str | None,
            path: str | None,
            heat_on: bool,
            filter_value: str,
            request: gr.Request,
        ) -> dict[Any, Any]:
            recs = import_upload(studio, request, code, path)
            assert code is not None
            text = upload_message(recs)
            out = after_act(code, heat_on, filter_value, text)
            out[self.upload] = None
            return out

        self.import_btn.click(
            on_import,
            [shot, self.upload, heat, status_filter],
            [*act_outputs, self.upload],
            **common,
        )


def upload_message(recs: list[workflow.Recorded]) -> str:
    """What the studio says of a recorded upload (the events it made, oldest first)."""
    if not recs:
        return "the upload is the same as the plate: nothing recorded"
    summed = {key: sum(r.stats.get(key, 0) for r in recs) for key in ("credited_px", "returned_px")}
    return (
        f"upload recorded as v{recs[-1].version} ({len(recs)} event(s)): "
        + workflow.credit_summary(summed)
    )
