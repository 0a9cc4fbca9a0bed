"""How much memory this process may still allocate, and a readable size for messages.

:func:`available_memory` is the smallest of the limits that can stop an allocation:

* the memory the kernel could hand out without swapping (``MemAvailable`` in
  ``/proc/meminfo``, else ``sysconf`` free pages);
* the control group's limit less its usage (cgroup v2 ``memory.max``, v1
  ``memory.limit_in_bytes``), when one is set;
* the address-space limit (``RLIMIT_AS``) less what the process has mapped already.

Loading a model and building a network compare their estimated needs with it before they
allocate, so that a request the machine cannot meet is refused with a message instead of
ending in the out-of-memory killer.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["available_memory", "format_bytes"]

_CGROUP_FILES = (
    ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
    ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
)


def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def _meminfo_kib(field: str, path: str = "/proc/meminfo") -> int | None:
    try:
        lines = Path(path).read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    for line in lines:
        name, _, rest = line.partition(":")
        if name == field and rest.split() and rest.split()[0].isdigit():
            return int(rest.split()[0])
    return None


def _physical_available() -> int | None:
    kib = _meminfo_kib("MemAvailable")
    if kib is not None:
        return kib * 1024
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _cgroup_available() -> int | None:
    for limit_file, usage_file in _CGROUP_FILES:
        limit, usage = _read_int(limit_file), _read_int(usage_file)
        if limit is not None and usage is not None and limit < 2**60:
            return max(limit - usage, 0)
    return None


def _address_space_available() -> int | None:
    try:
        import resource
    except ImportError:  # not on POSIX
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    mapped = _meminfo_kib("VmSize", "/proc/self/status")
    return max(soft - (mapped or 0) * 1024, 0)


def available_memory() -> int | None:
    """Bytes this process can still allocate, or None when no limit can be found.

    Returns
    -------
    int or None
        ``min(MemAvailable, cgroup limit − usage, RLIMIT_AS − mapped)`` over the limits
        this system reports.
    """
    limits = [_physical_available(), _cgroup_available(), _address_space_available()]
    known = [n for n in limits if n is not None]
    return min(known) if known else None


def format_bytes(n: int) -> str:
    """``n`` bytes in the largest binary unit up to PiB that keeps it at least 1: ``'1.5 GiB'``."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
    if n >= 1000 * 1024**5:
        return "over 1000 PiB"
    power = min(max(int(n).bit_length() - 1, 0) // 10, len(units) - 1)
    return f"{n} B" if power == 0 else f"{n / 1024**power:.1f} {units[power]}"
