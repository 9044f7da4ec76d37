"""The ``bgart`` command line: thin typer commands over the library (``bgart.cli.main`` holds
the app; each sub-command group has its module)."""

from bgart.cli.main import app, main

__all__ = ["app", "main"]
