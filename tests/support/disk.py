"""A real full disk for a child process: the command runs in a mount namespace of its own
(`unshare`, a user namespace too, so no root is needed where unprivileged user namespaces are
on) with a tmpfs of ``kb`` KiB mounted over ``directory``. Writes past it fail with ENOSPC, as on
a full disk. The mount is the child's alone: it and its files go when the child ends."""

from __future__ import annotations

import shutil
from pathlib import Path

MOUNT_THEN_RUN = 'mount -t tmpfs -o size="$1"k tmpfs "$2" && shift 2 && exec "$@"'


def on_small_disk(directory: Path, kb: int, command: list[str]) -> list[str]:
    unshare = shutil.which("unshare")
    assert unshare, "a full-disk test needs util-linux's unshare"
    directory.mkdir(parents=True, exist_ok=True)
    return [unshare, "--user", "--map-root-user", "--mount", "sh", "-c", MOUNT_THEN_RUN, "sh", str(kb),
            str(directory), *command]
