"""Names and text a person gives the ledger: shot codes, plate and user names.

A name is 1–200 printable characters of valid UTF-8; :func:`shown_text` makes any text
(a folder name in another encoding) safe to print and store.
"""

from __future__ import annotations

import os

from bgart.errors import InputError

MAX_NAME = 200  # the longest shot code, plate or user name (the name columns' width)


def shown_text(value: str) -> str:
    """``value`` safe to print and store: bytes that are not UTF-8 (a name from a file system
    or terminal in another encoding reaches Python as surrogate escapes) shown as U+FFFD."""
    try:
        return os.fsencode(value).decode("utf-8", "replace")
    except UnicodeEncodeError:  # a lone surrogate that no byte maps to
        return value.encode("utf-8", "replace").decode("utf-8")


def check_utf8(value: str, what: str) -> str:
    """``value`` when it is valid UTF-8 text, else an InputError naming ``what`` and showing
    the text (a name typed or listed in another encoding reaches Python as surrogate escapes,
    which can be neither hashed nor stored)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(
            f"{what} '{shown_text(value)[:60]}': not valid UTF-8 (bytes of another encoding, "
            "shown as \ufffd); give it in UTF-8"
        ) from None
    return value


def check_name(value: str, what: str) -> str:
    """A shot code, plate or person name: 1–200 printable characters of valid UTF-8."""
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{what}: must not be empty")
    value = check_utf8(value.strip(), what)
    if len(value) > MAX_NAME:
        raise InputError(f"{what} '{value[:40]}…': longer than {MAX_NAME} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InputError(f"{what} {value!r}: contains control characters")
    return value
