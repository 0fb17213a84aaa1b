"""JSON as the standard defines it: no NaN or Infinity, which Python's json writes by default.

A NaN in our results means "not measurable" (SSIM_lost under 7 lost pixels, the standard error
of one photo, a run without TensorBoard events); strict parsers (JavaScript's JSON.parse, jq)
reject the bare NaN token, so every --json output writes it as null through here.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np


def json_safe(value: Any) -> Any:
    """`value` with every non-finite float (NaN, +-inf; numpy's too) replaced by None, recursively."""
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def dumps_strict(value: Any, indent: int | None = 1) -> str:
    """Standard JSON text of `value` (non-finite floats as null), newline-terminated."""
    return json.dumps(json_safe(value), indent=indent, allow_nan=False) + "\n"
