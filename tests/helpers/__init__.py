"""Plain helpers for the tests (no fixtures): importable as ``helpers.<module>`` because the
root tests/ folder is on sys.path (pytest puts it there for tests/conftest.py)."""
