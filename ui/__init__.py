"""The artists' room: bgart's browser UI (Gradio).

:mod:`ui.handlers` holds what each button does, as plain functions over bgart's workflow,
engine and contribution modules; :mod:`ui.app` lays out the page and wires the events.
Start it with ``bgart ui`` (:mod:`bgart.ui_server`).
"""
