"""Blocks of work spread over CPU threads.

A fingerprint or a matching step is thousands of mid-sized torch operations. torch's own
intra-op threads split each operation and wake up for every one of them, which on such sizes
saves little (the fingerprint) or costs more than it saves (the matching, with the passive
waiting a shared machine needs). Torch releases Python's global lock inside its operations, so
plain Python threads, each running whole blocks of windows (or scales) on one torch thread, keep
the cores busy instead.
"""

import collections
import contextlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import torch

T = TypeVar("T")
R = TypeVar("R")


class Workers:
    """`count` threads that map a function over items (in this thread when there is no pool).

    Args:
        pool: the threads, or None to run everything in the calling thread.
        count: the pool's number of threads (bounds the items in flight).
    """

    def __init__(self, pool: ThreadPoolExecutor | None = None, count: int = 1) -> None:
        self.pool, self.count = pool, count

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """fn(item) for every item, on the threads.

        At most 2 x count items are in flight, so the results of a long input are not all held at
        once. Grad mode (thread-local in torch) is the caller's in every thread.

        Args:
            fn: the function, called once per item.
            items: the inputs, read as the results are taken.

        Yields:
            fn(item) for each item, in the items' order.
        """
        if self.pool is None:
            yield from map(fn, items)
            return
        grad = torch.is_grad_enabled()

        def call(item):
            with torch.set_grad_enabled(grad):
                return fn(item)

        pending = collections.deque()
        for item in items:
            pending.append(self.pool.submit(call, item))
            if len(pending) >= 2 * self.count:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    def submit(self, fn: Callable[[], R]) -> Future[R]:
        """Start fn() on one of the threads (run it now, in this thread, when there is no pool).

        Args:
            fn: the work, taking no arguments.

        Returns:
            A Future whose result() waits for fn and gives its result or raises its error.
        """
        if self.pool is not None:
            return self.pool.submit(fn)
        done = Future()
        try:
            done.set_result(fn())
        except Exception as error:  # noqa: BLE001 (handed to the caller by result())
            done.set_exception(error)
        return done


SERIAL = Workers()


@contextlib.contextmanager
def cpu_workers(device: str | torch.device = "cpu") -> Iterator[Workers]:
    """Workers, one per torch thread (torch.get_num_threads()), with torch itself on one thread inside.

    torch's thread count is restored on leaving. Off the CPU, or with one thread, the work runs in
    this thread.

    Args:
        device: where the work computes; only the CPU gets threads.

    Yields:
        The Workers (SERIAL when there is nothing to spread).
    """
    if torch.device(device).type != "cpu":
        yield SERIAL
        return
    count = torch.get_num_threads()
    torch.set_num_threads(1)  # before the pool's threads start: they take this setting
    try:
        if count <= 1:
            yield SERIAL
        else:
            with ThreadPoolExecutor(count, thread_name_prefix="vocalsep") as pool:
                yield Workers(pool, count)
    finally:
        torch.set_num_threads(count)
