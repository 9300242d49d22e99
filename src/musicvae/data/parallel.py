"""An ordered parallel map with a bounded number of tasks in flight (flat memory)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(
    fn: Callable[[T], R], tasks: Iterable[T], workers: int, in_flight_per_worker: int = 16
) -> Iterator[R]:
    """Yields fn(task) in task order, using `workers` processes (inline when workers <= 1).

    Unlike Executor.map, tasks are submitted lazily: at most workers * in_flight_per_worker are
    pending at any time, so a corpus of any size is processed in constant memory.
    """
    if workers <= 1:
        yield from map(fn, tasks)
        return
    limit = workers * in_flight_per_worker
    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending: deque = deque()
        for task in tasks:
            pending.append(pool.submit(fn, task))
            if len(pending) >= limit:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
