"""Shared behaviour of the command-line entry points: user errors, numeric arguments, output files.

Every entry point (`edgetokens`, `python -m training.train`, `compression.qat|ptq|bundle`,
`runtimes.benchmark`, ...) runs its command through `run_cli`: a mistake the user can fix prints one
`prog: error: ...` line and exits with code 2; any other exception is a bug and keeps its traceback.
Every output a command writes goes through `check_output` first (one policy: never over an input,
never over an existing file unless `--overwrite`), and images through `write_image` (OpenCV's
silent failures become errors).
"""
from __future__ import annotations

import argparse
import errno
import os
import sys
from pathlib import Path
from typing import Callable, Iterable


class UserError(Exception):
    """A mistake the user can fix (a device that is not here, a path that cannot be written, ...):
    the CLI prints its message on one line, without a traceback. Libraries raise subclasses of it (or
    of the usual ValueError / FileNotFoundError) so the CLI needs no list of their error types."""


class OutputError(UserError, OSError):
    """An output could not be written (OpenCV refused the extension or the write failed)."""


# Mistakes a user can fix (bad names, paths, shapes, existing outputs, devices): a message, no traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (UserError, ValueError, FileNotFoundError, FileExistsError,
                                                PermissionError, IsADirectoryError, NotADirectoryError)
# OSErrors about the user's paths that have no subclass of their own (a read-only file system, a full disk).
USER_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.ENAMETOOLONG, errno.ENOTDIR,
               errno.EISDIR, errno.ENOENT, errno.EEXIST, errno.ELOOP, errno.EDQUOT}


def is_user_error(err: BaseException) -> bool:
    return isinstance(err, USER_ERRORS) or (isinstance(err, OSError) and err.errno in USER_ERRNOS)


def one_line(err: BaseException) -> str:
    """The message of `err` on one line (OSError's `[Errno 13] ...: 'path'` form included)."""
    text = str(err) or type(err).__name__
    return " ".join(text.split())


def run_cli(command: Callable[[], object], prog: str) -> int:
    """Run `command`; user errors print one `prog: error: ...` line and give exit code 2."""
    try:
        command()
    except Exception as err:
        if not is_user_error(err):
            raise
        print(f"{prog}: error: {one_line(err)}", file=sys.stderr)
        return 2
    return 0


# --- numeric arguments ------------------------------------------------------------------------------

def check_int(name: str, value: object, minimum: int = 1, allow_none: bool = False) -> int | None:
    """`value` as an int >= `minimum` (None passes when `allow_none`); ValueError naming `name` otherwise.
    For API arguments; the CLI uses the argparse types below, which report the same way."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int,)) and not _is_numpy_int(value):
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    if int(value) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def _is_numpy_int(value: object) -> bool:
    return type(value).__module__ == "numpy" and hasattr(value, "dtype") and value.dtype.kind in "iu"


def check_threads(threads: object) -> int | None:
    """CPU threads: None (the runtime's default) or an int >= 1."""
    return check_int("threads", threads, 1, allow_none=True)


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse `type=`: an integer >= `minimum` (argparse names the flag in its error line)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {value}")
        return value

    parse.__name__ = "positive int" if minimum == 1 else f"int >= {minimum}"
    return parse


positive_int = int_at_least(1)
non_negative_int = int_at_least(0)


def float_in(low: float, high: float | None = None, low_open: bool = False,
             high_open: bool = False) -> Callable[[str], float]:
    """An argparse `type=`: a finite float in [low, high] (open ends where asked)."""
    upper = "inf)" if high is None else f"{high:g}{')' if high_open else ']'}"
    shown = f"{'(' if low_open else '['}{low:g}, {upper}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number in {shown}, got {text!r}") from None
        ok = value == value and value not in (float("inf"), float("-inf"))
        ok = ok and (value > low if low_open else value >= low)
        if high is not None:
            ok = ok and (value < high if high_open else value <= high)
        if not ok:
            raise argparse.ArgumentTypeError(f"must be a number in {shown}, got {text}")
        return value

    parse.__name__ = f"number in {shown}"
    return parse


positive_float = float_in(0.0, low_open=True)
non_negative_float = float_in(0.0)
fraction = float_in(0.0, 1.0)


# --- output files -----------------------------------------------------------------------------------

def _overlaps(path: Path, source: Path) -> bool:
    """Writing `path` would change the input `source`: the same file (links and `..` resolved, hard links
    too), a directory holding `source` (replacing it would destroy it), or an existing file inside the
    input directory `source` (part of a checkpoint or bundle). A new file inside an input folder is fine."""
    if path.exists() and source.exists():
        try:
            if os.path.samefile(path, source):
                return True
        except OSError:
            pass
    out, inp = path.resolve(), source.resolve()
    return out == inp or out in inp.parents or (inp in out.parents and path.exists())


def check_output(path: str | os.PathLike, inputs: Iterable[str | os.PathLike | None] = (), overwrite: bool = False,
                 flag: str = "--out", directory: bool = False) -> Path:
    """The one output policy of every command, checked before any work:

    - never the input (or a directory holding an input): both paths resolved, so links and `..` count;
    - a file output must not be an existing directory, a directory output not an existing file;
    - an existing output is refused unless `overwrite` (for a directory, the caller then decides what
      may be replaced: `compression.bundle` replaces only a bundle or an empty directory).
    Returns `path` as a Path. Raises FileExistsError / IsADirectoryError / NotADirectoryError / ValueError.
    """
    path = Path(path)
    for source in inputs:
        if source is None or str(source) == "":
            continue
        if _overlaps(path, Path(source)):
            raise ValueError(f"{flag} {path} would write over the input {source}; choose another output")
    if path.exists() or path.is_symlink():
        if directory and not path.is_dir():
            raise NotADirectoryError(f"{flag} {path} is an existing file, not a directory; give a directory")
        if not directory and path.is_dir():
            raise IsADirectoryError(f"{flag} {path} is a directory; give a file name")
        if not overwrite:
            raise FileExistsError(f"{flag} {path} already exists; pass --overwrite to replace it")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(f"{flag} {path}: {parent} is a file, not a directory")
            break
    return path


def check_outputs(outputs: dict[str, str | os.PathLike | None], inputs: Iterable[str | os.PathLike | None] = (),
                  overwrite: bool = False) -> dict[str, Path | None]:
    """`check_output` for several {flag: path} outputs of one command, which must also differ from each other."""
    inputs = list(inputs)
    checked: dict[str, Path | None] = {}
    for flag, path in outputs.items():
        if path is None:
            checked[flag] = None
            continue
        for earlier, other in checked.items():
            if other is not None and Path(path).resolve() == other.resolve():
                raise ValueError(f"{flag} and {earlier} are the same file {path}; give each its own")
        checked[flag] = check_output(path, inputs, overwrite, flag)
    return checked


def check_image_extension(path: str | os.PathLike, flag: str = "--out") -> None:
    """OpenCV can write images of this file's extension (checked before the work, not after)."""
    import cv2  # deferred: OpenCV, only for commands that write images

    if not cv2.haveImageWriter(str(path)):
        raise ValueError(f"{flag} {path}: OpenCV cannot write {Path(path).suffix or 'files without an extension'}"
                         "; use .png, .jpg, .bmp or .tiff")


def write_image(path: str | os.PathLike, image, flag: str = "--out") -> Path:
    """`cv2.imwrite`, checked: an extension OpenCV refuses or a failed write is an `OutputError`
    (OpenCV itself returns False, or raises cv2.error, and the file silently is not there)."""
    import cv2  # deferred: OpenCV, only for commands that write images

    path = Path(path)
    check_image_extension(path, flag)
    if not path.parent.is_dir():
        raise OutputError(f"{flag} {path}: the folder {path.parent} does not exist")
    try:
        written = cv2.imwrite(str(path), image)
    except cv2.error as err:
        raise OutputError(f"{flag} {path}: OpenCV could not write it ({one_line(err)[:200]})") from None
    if not written:
        raise OutputError(f"{flag} {path}: OpenCV could not write it (is the folder writable and the disk not full?)")
    return path
