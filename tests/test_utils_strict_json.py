"""utils/strict_json.py: NaN and infinities are written as null, so the text is standard JSON."""

from __future__ import annotations

import json
import math

import numpy as np

from utils.strict_json import dumps_strict, json_safe


def strict_loads(text: str) -> object:
    """json.loads that refuses NaN, Infinity and -Infinity, as JavaScript's JSON.parse does."""
    def refuse(token: str) -> None:
        raise ValueError(f"not standard JSON: {token}")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_floats_become_null_at_any_depth() -> None:
    value = {"mean": {"score": 0.5, "ssim_lost": math.nan}, "rows": [math.inf, -math.inf, (1.0, np.float32("nan"))],
             "count": np.int64(3), "spread": np.float64(0.25), "name": "a"}
    assert strict_loads(dumps_strict(value)) == {"mean": {"score": 0.5, "ssim_lost": None}, "rows": [None, None, [1.0, None]],
                                                 "count": 3, "spread": 0.25, "name": "a"}
    assert json_safe(math.nan) is None and json_safe(2.0) == 2.0


def test_the_standard_library_alone_writes_nan() -> None:
    """Why the helper exists: json.dumps' default output is not what strict parsers read."""
    try:
        strict_loads(json.dumps({"x": math.nan}))
    except ValueError as err:
        assert "NaN" in str(err)
    else:
        raise AssertionError("json.dumps wrote standard JSON for NaN")
