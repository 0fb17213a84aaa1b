"""The background iterator: same items in order, errors raised at the item, early exit ends the thread."""

from __future__ import annotations

import threading
import time
from typing import Iterator

import pytest

from utils.background import background


def test_items_arrive_in_order() -> None:
    assert list(background(range(50), ahead=3)) == list(range(50))
    assert list(background([])) == []


def test_producer_error_is_raised_in_the_consumer_after_the_good_items() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise OSError("bad.png: cannot read")

    seen = []
    with pytest.raises(OSError, match="bad.png"):
        for item in background(items()):
            seen.append(item)
    assert seen == [1, 2]


def test_producer_stays_bounded_ahead_and_stops_when_the_consumer_does() -> None:
    produced: list[int] = []

    def items() -> Iterator[int]:
        for i in range(1000):
            produced.append(i)
            yield i

    iterator = background(items(), ahead=2)
    assert next(iterator) == 0
    time.sleep(0.3)
    assert len(produced) <= 4  # the consumed item, `ahead` waiting, one blocked in put
    iterator.close()
    deadline = time.monotonic() + 5
    while any(t.name == "background-iterator" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(t.name == "background-iterator" for t in threading.enumerate())
    assert len(produced) < 1000


def test_ahead_must_be_positive() -> None:
    with pytest.raises(ValueError, match="ahead=0"):
        next(background([1], ahead=0))
