"""Run an iterator in a background thread, a few items ahead of its consumer.

infer.py's per-image work (PNG decoding, hole detection, the Telea pre-fill) is OpenCV and NumPy
code that releases the GIL, so a thread can prepare the next batch while the generator runs;
the consumer sees the same items in the same order, and an exception raised while producing an
item is raised again in the consumer, at that item.
"""

from __future__ import annotations

import queue
import threading
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")

_DONE = object()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def background(items: Iterable[T], ahead: int = 2) -> Iterator[T]:
    """Yield `items`, produced by a daemon thread that stays at most `ahead` items in front."""
    if ahead < 1:
        raise ValueError(f"ahead={ahead}: expected at least 1")
    buffer: queue.Queue = queue.Queue(maxsize=ahead)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if not _put(buffer, item, stop):
                    return
        except BaseException as err:  # noqa: BLE001 - handed to the consumer, which re-raises it
            _put(buffer, _Failure(err), stop)
            return
        _put(buffer, _DONE, stop)

    thread = threading.Thread(target=produce, name="background-iterator", daemon=True)
    thread.start()
    try:
        while True:
            item = buffer.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()  # the consumer stopped early (an error, Ctrl-C): let the producer end


def _put(buffer: queue.Queue, item: object, stop: threading.Event) -> bool:
    """Put `item`, waiting for room; False when the consumer has gone away."""
    while not stop.is_set():
        try:
            buffer.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False
