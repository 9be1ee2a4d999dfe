"""How much memory this machine can still give: checked before a model is built, so that a
model too big is one clear error instead of a MemoryError (or the kernel's OOM killer)."""

import os

import numpy as np


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


def check_fits_in_memory(sizes, dtype):
    """Raise ValueError, before allocating anything, if building dense layers of ``sizes``
    ((inputs, outputs) each) would not fit in the memory this machine has available: each
    layer's first weights, the flat parameter vector and the gradients (3 values per
    parameter), plus the float64 draw of the largest layer."""
    count = sum(n_in * n_out + n_out for n_in, n_out in sizes)
    needed = 3 * count * np.dtype(dtype).itemsize + 8 * max(n_in * n_out for n_in, n_out in sizes)
    memory = available_memory()
    if memory is not None and needed > memory:
        raise ValueError(f"a model of {count:,} parameters needs {needed:,} bytes "
                         f"({needed / 2**30:,.1f} GiB) to be built; this machine has "
                         f"{memory / 2**30:,.1f} GiB available")


def check_rows_fit(what, rows, width, dtype, advice="draw fewer at a time"):
    """Raise ValueError if ``what`` (a call, named in the message) would hold more than the
    memory available in about four (rows, width) arrays of ``dtype``; ``advice`` ends it."""
    needed, memory = 4 * rows * width * np.dtype(dtype).itemsize, available_memory()
    if memory is not None and needed > memory:
        raise ValueError(f"{what} needs about {needed / 2**30:,.1f} GiB; this machine has "
                         f"{memory / 2**30:,.1f} GiB available: {advice}")
