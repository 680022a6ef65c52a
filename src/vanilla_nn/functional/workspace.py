"""The workspace cap: the most bytes a convolution may allocate for its temporary buffers at once.

The im2col matrix of a convolution is ``prod(K)`` times larger than its input; a large batch would need
gigabytes. Under the cap the planner (:mod:`.plan`) splits the output grid into boxes whose buffers fit:
whole images, runs of output rows, runs inside one row, down to a single output position; results are the
same as unchunked up to the rounding of the sums that chunking splits (the weight gradient adds the boxes'
partial sums).

What the cap covers, exactly: during one convolution call (forward, or either backward) the memory
allocated beyond the returned arrays (counting a cropped result's whole frame) stays under the cap plus one
padded copy of the correlation's input (the input of a convolution; ``grad_output`` in a transposed
convolution's backward, which also reads its input in channels-last memory, one more input-sized copy).
The cap includes the im2col/col2im boxes, copies of ``grad_output``'s rows, Winograd's tiles, the
correlation strategy's padded ``grad_output`` and the weight's rearranged copies. Two exceptions: a single
output position's window (``prod(K) * C_in / groups`` values) is the smallest unit of work, and a weight
whose rearranged copies alone exceed the cap still gets them; padding modes other than ``"zeros"`` pull the
gradient back through the padding with one more input-sized copy. ``tests/test_workspace.py`` checks this
with tracemalloc on adversarial shapes.

    >>> import vanilla_nn.functional as F
    >>> F.get_workspace_limit() == 256 * 2**20
    True
    >>> with F.workspace_limit(16 * 2**20):
    ...     pass  # convolutions here use at most 16 MiB of scratch
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

DEFAULT_WORKSPACE_LIMIT = 256 * 2**20  # bytes

_state = threading.local()


def get_workspace_limit() -> int:
    """The current workspace cap in bytes (default 256 MiB; per thread)."""
    return getattr(_state, "limit", DEFAULT_WORKSPACE_LIMIT)


def set_workspace_limit(limit: int | None) -> int:
    """Set the workspace cap in bytes (``None`` restores the default); returns the previous cap."""
    previous = get_workspace_limit()
    if limit is None:
        limit = DEFAULT_WORKSPACE_LIMIT
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise TypeError(f"set_workspace_limit: limit={limit!r} must be an int number of bytes or None")
    if limit < 1:
        raise ValueError(f"set_workspace_limit: limit={limit!r} must be >= 1 byte")
    _state.limit = limit
    return previous


@contextlib.contextmanager
def workspace_limit(limit: int | None) -> Iterator[int]:
    """Context manager: the workspace cap is ``limit`` bytes inside the ``with`` block."""
    previous = set_workspace_limit(limit)
    try:
        yield get_workspace_limit()
    finally:
        _state.limit = previous
