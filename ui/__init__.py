"""The artists' room: bgart's browser UI (Gradio).

:mod:`bgart.ui.handlers` holds what each button does, as plain functions over bgart's workflow,
engine and contribution modules; :mod:`bgart.ui.app` lays out the page and wires the events.
Start it with ``bgart ui`` (:mod:`bgart.ui.server`).
"""
