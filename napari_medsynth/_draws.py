"""Checks of the (count, seed) every sampler takes, with one wording for all of them."""

from __future__ import annotations

import numpy as np


def check_count(n, what: str = "images") -> int:
    """``n`` as a positive int, or a ValueError that says what was wrong."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"the number of {what} must be a positive whole number, not {n!r}")
    return int(n)


def check_seed(seed) -> int:
    """``seed`` as an int usable by ``torch.Generator.manual_seed``."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2 ** 63:
        raise ValueError(f"the seed must be a whole number from 0 to 2**63 - 1, not {seed!r}")
    return int(seed)
