"""Work done side by side in processes of one torch thread each: the search's supernets and
candidates, and the benchmarks' trainings from scratch.

Why processes of one thread: the networks of a CPU search are small (C=4 at the demo's size),
and torch's intra-op threads gain little on them, so processes of one thread each get more of
the work done per core (and two torch processes of two threads each on two cores slow each
other down many times over). Why one thread *always*, even with one worker: a
convolution's floating-point sums depend on how its work is split over threads, so a search
whose every piece runs in one thread gives the same numbers for any number of workers and on
a machine of any core count.

``worker_pool(n)`` gives a ``Pool``: ``submit`` work, take what has ``finished``, ``forward``
the progress messages the workers ``report``-ed to the caller's callback. With ``n == 1`` the
work runs in this process, a piece at a time as the caller asks for finished work, through the
same interface, so one code path schedules both. The processes are started by ``spawn`` (a
fork after torch has started its threads can hang the child), ignore Ctrl-C (this process
decides what stops), and exit when this process is gone rather than keep writing into a
folder a resumed run may be using.
"""

from __future__ import annotations

import collections
import contextlib
import multiprocessing
import os
import queue
import signal
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Callable, Iterable, Iterator

import torch

Sink = Callable[[Any], None]

_sink: Sink | None = None  # where ``report`` sends a message: a queue to the parent, or a callback
_parent: int | None = None  # the pid a pool worker was started by


def default_workers(device: torch.device) -> int:
    """As many workers as torch would use threads here (``torch.get_num_threads()``, which
    ``OMP_NUM_THREADS`` sets), one on a GPU (its kernels are the parallel part)."""
    return 1 if device.type != "cpu" else max(1, torch.get_num_threads())


def report(message: Any) -> None:
    """Send a progress message to the process that scheduled this work (nothing when none
    listens). A pool worker whose parent is gone exits here: a killed run must not be
    followed by orphans that go on writing checkpoints."""
    if _parent is not None and os.getppid() != _parent:
        os._exit(3)
    if _sink is not None:
        _sink(message)


def _start_worker(messages: Any, initializer: Callable[..., None] | None, initargs: tuple[Any, ...]) -> None:
    global _sink, _parent
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)
    _parent, _sink = os.getppid(), messages.put
    if initializer is not None:
        initializer(*initargs)


class Pool:
    """What ``worker_pool`` gives: ``submit`` work, take what ``finished``, and ``forward`` the
    workers' progress messages."""

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future:
        raise NotImplementedError

    def finished(self, pending: Iterable[Future], timeout: float = 0.25) -> set[Future]:
        """Some of ``pending`` that are done (none when ``timeout`` passes first)."""
        raise NotImplementedError

    def forward(self) -> None:
        """Pass the messages the workers ``report``-ed since the last call on."""


class _InlinePool(Pool):
    """One worker, this process: work runs when ``finished`` is asked, one piece at a time in
    the order submitted, with one torch thread on CPU (restored afterwards), so the caller
    records each result before the next piece starts, as it would with a pool."""

    def __init__(self, one_thread: bool) -> None:
        self.one_thread = one_thread
        self.queue: collections.deque[tuple[Future, Callable[..., Any], tuple[Any, ...]]] = collections.deque()

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future:
        future: Future = Future()
        self.queue.append((future, fn, args))
        return future

    def finished(self, pending: Iterable[Future], timeout: float = 0.25) -> set[Future]:
        waiting = set(pending)
        while self.queue:
            future, fn, args = self.queue.popleft()
            if future not in waiting:
                continue
            threads = torch.get_num_threads()
            if self.one_thread:
                torch.set_num_threads(1)
            try:
                future.set_result(fn(*args))
            except Exception as error:  # delivered by future.result(), as a pool would
                future.set_exception(error)
            finally:
                torch.set_num_threads(threads)
            return {future}
        return set()


class _ProcessPool(Pool):
    def __init__(self, executor: ProcessPoolExecutor, messages: Any, on_message: Sink | None) -> None:
        self.executor, self.messages, self.on_message = executor, messages, on_message

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future:
        return self.executor.submit(fn, *args)

    def finished(self, pending: Iterable[Future], timeout: float = 0.25) -> set[Future]:
        done, _ = wait(list(pending), timeout=timeout, return_when=FIRST_COMPLETED)
        return done

    def forward(self) -> None:
        while True:
            try:
                message = self.messages.get_nowait()
            except queue.Empty:
                return
            if self.on_message is not None:
                self.on_message(message)


@contextlib.contextmanager
def worker_pool(
    workers: int,
    *,
    on_message: Sink | None = None,
    one_thread: bool = True,
    initializer: Callable[..., None] | None = None,
    initargs: tuple[Any, ...] = (),
) -> Iterator[Pool]:
    """A ``Pool`` of ``workers`` processes (this process for one). ``initializer(*initargs)``
    runs once in each worker; what a worker ``report``-s reaches ``on_message`` through
    ``forward`` (directly for one worker). On an error or Ctrl-C the workers are stopped at
    once, not after the work in hand."""
    global _sink
    if workers <= 1:
        previous = _sink
        _sink = on_message
        if initializer is not None:
            initializer(*initargs)
        try:
            yield _InlinePool(one_thread)
        finally:
            _sink = previous
        return
    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    executor = ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_start_worker, initargs=(messages, initializer, initargs)
    )
    pool = _ProcessPool(executor, messages, on_message)
    try:
        yield pool
    except BaseException:
        processes = list(getattr(executor, "_processes", {}).values())  # the executor has no public way to stop them
        executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        raise
    else:
        executor.shutdown(wait=True)
        pool.forward()
    finally:
        messages.close()
