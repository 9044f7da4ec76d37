"""The painting surface of the Retouch tab: plate, paint layer, inpaint mask and retake
marks on one canvas in the browser (``static/canvas.js``), and what crosses to Python."""

from .bridge import CanvasLayer, project_key, read_payload, view_json
from .widgets import HOST_ID, Canvas, page_script, payload_js

__all__ = [
    "HOST_ID",
    "Canvas",
    "CanvasLayer",
    "page_script",
    "payload_js",
    "project_key",
    "read_payload",
    "view_json",
]
