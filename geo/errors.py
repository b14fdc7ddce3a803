"""One error family for the whole system.

Every error inherits :class:`PlannerError` and, where it makes sense, a builtin
(``ValueError``, ``OSError``) so callers can catch either.  A message says what was
received, what was expected, and how to fix it; ``message_zh`` carries the same in
Chinese for the UI.
"""
from __future__ import annotations

__all__ = [
    "PlannerError",
    "CRSError",
    "MissingCRSError",
    "CRSMismatchError",
    "InvalidGeometryError",
    "SchemaError",
    "WorkspaceError",
    "LayerNotFoundError",
    "UnsafeInputError",
    "ParameterError",
    "InfeasibleAllocationError",
    "ImportDataError",
    "ShortlistError",
    "AccessDeniedError",
    "AuthenticationError",
    "ConflictError",
    "ClusterError",
]


class PlannerError(Exception):
    """Base of every error raised on purpose by this system.

    Parameters
    ----------
    message : str
        English text: what was received, what was expected, how to fix it.
    message_zh : str, optional
        The same for the Chinese UI; falls back to ``message``.
    details : list, optional
        Per-item problems (feature index, field, reason) when many were collected.
    """

    def __init__(self, message: str, *, message_zh: str | None = None, details: list | None = None):
        super().__init__(message)
        self.message = message
        self.message_zh = message_zh or message
        self.details = list(details or [])

    def localized(self, lang: str = "zh") -> str:
        return self.message_zh if lang == "zh" else self.message

    def __reduce__(self):
        # Raised on a dask worker, the error is pickled back to the client: keep message_zh and
        # details (Exception's own pickling keeps only the positional message).
        return _restore, (type(self), self.args, dict(self.__dict__))


def _restore(cls, args, state):
    err = cls.__new__(cls)
    Exception.__init__(err, *args)
    err.__dict__.update(state)
    return err


class CRSError(PlannerError, ValueError):
    """A coordinate reference system is wrong, unrecognised or inconsistent with the data."""


class MissingCRSError(CRSError):
    """Data has no CRS and none was declared."""


class CRSMismatchError(CRSError):
    """Two inputs that must share a CRS do not."""


class InvalidGeometryError(PlannerError, ValueError):
    """Geometries are null, empty, invalid, non-finite or outside the expected area."""


class SchemaError(PlannerError, ValueError):
    """A layer's fields or values do not meet its spec."""


class WorkspaceError(PlannerError, OSError):
    """A workspace cannot be opened, read or written."""


class LayerNotFoundError(WorkspaceError, KeyError):
    """A layer was asked for that the workspace does not hold."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


class UnsafeInputError(PlannerError, ValueError):
    """An input file is refused for safety (VRT, network path, zip bomb, traversal...)."""


class ParameterError(PlannerError, ValueError):
    """Analysis parameters (weights, thresholds, presets) are invalid."""


class InfeasibleAllocationError(PlannerError, ValueError):
    """A siting problem cannot be solved as posed."""


class ShortlistError(PlannerError, ValueError):
    """A shortlist change was refused (unknown item, bad status step, duplicate...); nothing was written."""


class ImportDataError(PlannerError, ValueError):
    """A file being imported cannot be read or mapped onto a layer."""


class AccessDeniedError(PlannerError, PermissionError):
    """The acting user's role (or township) does not allow this change; nothing was written."""


class AuthenticationError(PlannerError, PermissionError):
    """Sign-in failed: unknown user, wrong password, locked or disabled account, expired session."""


class ClusterError(PlannerError, ConnectionError):
    """The dask cluster cannot be reached, has no workers, or its workers run other code."""


class ConflictError(PlannerError, ValueError):
    """Someone else changed the record since it was read; ``current`` holds the record as it is now."""

    def __init__(self, message: str, *, message_zh: str | None = None, details: list | None = None,
                 current: dict | None = None):
        super().__init__(message, message_zh=message_zh, details=details)
        self.current = dict(current or {})
