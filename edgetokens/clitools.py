"""Shared behaviour of the command-line entry points."""
from __future__ import annotations

import sys
from typing import Callable

# Mistakes a user can fix (bad names, paths, shapes, existing outputs): a message, no traceback.
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError)


def run_cli(command: Callable[[], object], prog: str) -> int:
    """Run `command`; user errors print `prog: error: ...` and exit code 2."""
    try:
        command()
    except USER_ERRORS as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    return 0
