"""The one atomic directory write: build beside the target, then swap it in.

Checkpoints, bundles, QAT states and the export cache all go through `atomic_directory`. Readers
never see a half-written directory, and an existing target is never absent, not even for a moment:
on Linux the new directory and the old one are exchanged in one `renameat2(RENAME_EXCHANGE)` call
(Python's `os` has no binding for it, hence ctypes), elsewhere by two renames.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

EXIST_POLICIES = ("error", "replace", "keep")
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


@contextlib.contextmanager
def atomic_directory(target: str | Path, exist: str = "error") -> Iterator[Path]:
    """Yield an empty temporary directory beside `target`; on success it becomes `target`.

    `exist` says what an existing target gets: "error" (FileExistsError, checked before and after
    the work), "replace" (swapped out, then deleted) or "keep" (the other writer's entry stays and
    ours is dropped: for cache entries that two processes may build at once). On any failure the
    temporary directory is removed and the target is untouched.
    """
    if exist not in EXIST_POLICIES:
        raise ValueError(f"exist must be one of {', '.join(EXIST_POLICIES)}; got {exist!r}")
    target = Path(target)
    if exist == "error" and os.path.lexists(target):
        raise FileExistsError(f"{target} already exists; pass --overwrite to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield tmp
        publish_directory(tmp, target, exist)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def publish_directory(tmp: Path, target: Path, exist: str = "error") -> Path:
    """Move the finished directory `tmp` to `target` under the `exist` policy (see `atomic_directory`)."""
    if not os.path.lexists(target):
        try:
            os.rename(tmp, target)  # atomic; fails if another writer got there first
            return target
        except OSError as err:
            if err.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR, errno.ENOTDIR):
                raise
    if exist == "keep":
        shutil.rmtree(tmp, ignore_errors=True)
        return target
    if exist == "error":
        raise FileExistsError(f"{target} already exists; pass --overwrite to replace it")
    if target.is_symlink() or not target.is_dir():
        raise FileExistsError(f"{target} exists and is not a directory; remove it first")
    _exchange(tmp, target)
    shutil.rmtree(tmp)  # now holds the old contents
    return target


def _exchange(a: Path, b: Path) -> None:
    """Swap two directories' names: atomically where the OS can, else by two renames."""
    libc_name = ctypes.util.find_library("c")
    renameat2 = getattr(ctypes.CDLL(libc_name, use_errno=True), "renameat2", None) if libc_name else None
    if renameat2 is not None:
        if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS, errno.EPERM):  # other errors are real
            raise OSError(code, os.strerror(code), str(b))
    aside = b.with_name(f".{b.name}.old-{os.getpid()}")
    os.rename(b, aside)
    os.rename(a, b)
    os.rename(aside, a)
