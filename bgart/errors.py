"""User-facing errors.

Every problem a user can cause (a missing file, a bad shot list, a tampered weight file)
raises :class:`BgartError` with one line that names the input. The CLI prints that line and
exits non-zero; nothing else in bgart prints tracebacks at users.
"""

from __future__ import annotations


class BgartError(Exception):
    """An error whose message is meant for the user, naming the file, line or field."""

    exit_code = 2


class InputError(BgartError):
    """Bad input: a file, a field, a value."""


class StaleVersionError(InputError):
    """An act decided on a plate version that is no longer the latest (someone saved a newer
    one since the deciding person looked): refused, nothing recorded."""


class OutputError(BgartError):
    """A file bgart must write cannot be written (a full disk, no permission, a folder in
    the way): nothing half-written is left as if it were whole."""

    exit_code = 5


class WeightsError(BgartError):
    """Model weights missing, unpinned, tampered with, or in a refused format."""


class LedgerIntegrityError(BgartError):
    """The ledger or a blob does not match its recorded hash."""

    exit_code = 3
