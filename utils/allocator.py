"""Keep freed memory in the process instead of handing it back to the OS after every step.

glibc's malloc serves blocks above its mmap threshold (128 KiB at start, raised on the fly up to
32 MiB) with fresh `mmap`s and returns them on `free`, and it trims the heap's top back to the OS
past its trim threshold. A training step allocates and frees the same tens of large tensors
(activations, gradients, the chroma head's bins^2-channel logits: 16 MB each at batch 8 of 128^2)
every step, so with the defaults every one of them is faulted in page by page again: about 18,000
page faults (70 MB zeroed by the kernel) per cpu_budget step, measured with
`benchmarks/bench_malloc.py`. Fixing the mmap threshold at glibc's ceiling (which also stops its
dynamic adjustment) and never trimming lets the heap keep those pages, so the next step reuses
them: about 1,000 faults per step, and the step 10 % to 15 % faster on the 2-core CPU (README
"Speed"). The cost is that the process keeps its peak heap until it exits, which is what a
training or inference process needs anyway.

`CHROMAFILL_MALLOC=default` keeps glibc's behaviour (for comparisons); other C libraries are left alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import sys

# mallopt(3) parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's ceiling for it on 64-bit (HEAP_MAX_SIZE / 2); larger values are refused
TRIM_THRESHOLD = 2**31 - 1  # an int: never trim the heap's top
ENV = "CHROMAFILL_MALLOC"


def keep_freed_memory() -> bool:
    """Set glibc's thresholds as above, once per process; True when they were set.

    Call it at the start of a process (the CLIs do, through utils.cli.run_cli): it affects the
    allocations that follow, and DataLoader workers forked later inherit it.
    """
    if os.environ.get(ENV, "tuned") == "default" or not sys.platform.startswith("linux"):
        return False
    if platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
