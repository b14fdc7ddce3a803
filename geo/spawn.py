"""Starting worker processes from inside the app: a spawned child must not re-run a page script."""
from __future__ import annotations

import contextlib
import sys
import types
from collections.abc import Iterator

__all__ = ["plain_main"]


@contextlib.contextmanager
def plain_main() -> Iterator[None]:
    """Hide a script ``__main__`` while worker processes are spawned.

    Spawned workers re-run ``__main__`` from its path. Under Streamlit (and its AppTest) that is
    the page script, which must not run inside a worker (it fails, and the nanny with it); the
    workers need nothing from ``__main__``, so they get an empty one.
    """
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main
