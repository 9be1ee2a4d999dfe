"""How much memory this machine can still give: checked before a model is built, so that a
model too big is one clear error instead of a MemoryError (or the kernel's OOM killer)."""

import os


def available_memory():
    """Bytes of memory this machine can still give (Linux's MemAvailable, else all of its
    physical memory); None where neither can be read."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None
