"""A lock file that keeps two processes from writing one folder, and that a dead one does not
leave stuck: it holds the owner's host and pid, and a lock whose process is gone is taken over.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from pathlib import Path

log = logging.getLogger(__name__)


class FolderBusyError(ValueError):
    """Another live process holds the folder's lock."""


def _alive(pid: int) -> bool:
    """Whether a process with this pid exists on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


class FolderLock:
    """`with FolderLock(folder, "prepare"):` holds `folder/.<what>.lock` for the block.

    A second holder raises FolderBusyError naming the owner's pid. A lock left by a process
    that has died (same host, pid gone) is replaced; a lock of another host is respected,
    since its pid cannot be checked from here.
    """

    def __init__(self, folder: str | os.PathLike, what: str):
        self.path = Path(folder) / f".{what}.lock"
        self.what = what
        self.owner = {"pid": os.getpid(), "host": socket.gethostname()}
        self._held = False

    def _read_owner(self) -> dict | None:
        try:
            owner = json.loads(self.path.read_text())
            return owner if isinstance(owner, dict) else {}
        except FileNotFoundError:
            return None
        except (OSError, ValueError):  # torn or foreign content: treat as stale
            return {}

    def _stale(self, owner: dict) -> bool:
        pid = owner.get("pid")
        if not isinstance(pid, int):
            return True
        return owner.get("host") == self.owner["host"] and not _alive(pid)

    def acquire(self) -> None:
        for _ in range(3):  # create, or clear a stale lock and retry
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._read_owner()
                if owner is None:  # released meanwhile
                    continue
                if not self._stale(owner):
                    raise FolderBusyError(
                        f"{self.path.parent} is in use by another `{self.what}` (process "
                        f"{owner.get('pid')} on {owner.get('host')}); wait for it to finish, "
                        f"or delete {self.path} if that process is gone"
                    ) from None
                log.warning(
                    "%s: removing a stale lock of process %s (no longer running)",
                    self.path,
                    owner.get("pid"),
                )
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(self.owner, f)
            self._held = True
            return
        raise FolderBusyError(f"could not take the lock {self.path}")

    def release(self) -> None:
        if self._held:
            self.path.unlink(missing_ok=True)
            self._held = False

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
