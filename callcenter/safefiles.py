"""Write and read files without following links planted by someone else.

The service and the set-up scripts run as root beside Asterisk, which runs as
its own user and may write some of the same folders. A root process that
opens, chmods or chowns a path by name in such a folder can be steered by a
symbolic link planted there onto any file of the machine (``/etc/passwd``).
So every file root writes goes through :func:`write_file`: a new file created
with ``O_EXCL | O_NOFOLLOW`` under a random name in the target's folder, its
mode and owner set on the open descriptor (never by name), then renamed over
the target (a rename replaces a planted link, it never writes through it).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafeFile(OSError):
    """A path that is a link or not a regular file where a file was expected."""


def write_file(
    path: Path,
    data: str | bytes,
    *,
    mode: int = 0o600,
    owner: int = -1,
    group: int = -1,
) -> None:
    """Replace ``path`` with ``data`` atomically: a crash leaves the old file,
    readers never see half a file, and the new one has ``mode`` (and ``owner``
    / ``group`` unless -1) from the moment it has a name."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    folder = os.open(path.parent, _DIR_FLAGS)
    try:
        tmp = f".{path.name}.{secrets.token_hex(8)}.tmp"
        fd = os.open(tmp, _NEW_FLAGS, 0o600, dir_fd=folder)
        try:
            with os.fdopen(fd, "wb") as out:
                if owner != -1 or group != -1:
                    os.fchown(out.fileno(), owner, group)
                os.fchmod(out.fileno(), mode)
                out.write(payload)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path.name, src_dir_fd=folder, dst_dir_fd=folder)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=folder)
            raise
    finally:
        os.close(folder)


def open_append(path: Path, *, mode: int = 0o600) -> int:
    """A descriptor appending to ``path``, created with ``mode`` if missing.

    Refuses a link or anything but a regular file at ``path``; a file left
    with looser permissions by an older version is tightened to ``mode``.
    """
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, mode)  # O_NONBLOCK: a planted pipe cannot hang us
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeFile(f"{path}: is a symbolic link") from exc
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFile(f"{path}: not a regular file")
        if stat.S_IMODE(info.st_mode) & ~mode:
            os.fchmod(fd, mode)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_bytes(path: Path) -> bytes:
    """The content of the regular file ``path``; a link, a pipe or a device
    there raises :class:`UnsafeFile` (FileNotFoundError when nothing is)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # the last component is a symbolic link
            raise UnsafeFile(f"{path}: is a symbolic link") from exc
        raise
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise UnsafeFile(f"{path}: not a regular file")
        return f.read()


def read_text(path: Path) -> str:
    return read_bytes(path).decode("utf-8")


def ensure_dir(path: Path, *, mode: int, owner: int = -1, group: int = -1) -> None:
    """Make the folder ``path`` (and its parents) with ``mode`` and owner.

    An existing folder gets the mode and owner too; a link where the folder
    should be raises :class:`UnsafeFile` rather than being followed.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, mode)
    try:
        fd = os.open(path, _DIR_FLAGS)
    except OSError as exc:
        raise UnsafeFile(f"{path}: not a folder (or a link to one): {exc.strerror}") from exc
    try:
        if owner != -1 or group != -1:
            os.fchown(fd, owner, group)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
