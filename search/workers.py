"""Work done side by side in processes of one torch thread each: the search's supernets and
candidates, and the benchmarks' trainings from scratch.

Why processes of one thread: the networks of a CPU search are small (C=4 at the demo's size),
and torch's intra-op threads gain little on them, while two independent one-thread processes
on two cores do nearly twice the work (two torch processes of two threads each on two cores
slow each other down many times over). Why one thread *always*, even with one worker: a
convolution's floating-point sums depend on how its work is split over threads, so a search
whose every piece runs in one thread gives the same numbers for any number of workers and on
a machine of any core count.

``worker_pool(n)`` gives an executor (``submit``, futures) and a function that forwards the
progress events the workers sent (``report``) to the caller's callback. With ``n == 1`` the
work runs in this process, one thread at a time, through the same interface, so one code path
schedules both. The processes are started by ``spawn`` (a fork after torch has started its
threads can hang the child), ignore Ctrl-C (this process decides what stops), and exit when
this process is gone rather than keep writing into a folder a resumed run may be using.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import signal
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any, Callable, Iterator

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


class InlineExecutor(Executor):
    """An executor that runs each piece of work at once, in this process, with one torch thread
    on CPU (restored afterwards): ``worker_pool(1)``."""

    def __init__(self, one_thread: bool) -> None:
        self.one_thread = one_thread

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:  # type: ignore[override]
        future: Future = Future()
        threads = torch.get_num_threads()
        if self.one_thread:
            torch.set_num_threads(1)
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as error:  # delivered by future.result(), as a pool would
            future.set_exception(error)
        finally:
            torch.set_num_threads(threads)
        return future


@contextlib.contextmanager
def worker_pool(
    workers: int,
    *,
    on_message: Sink | None = None,
    one_thread: bool = True,
    initializer: Callable[..., None] | None = None,
    initargs: tuple[Any, ...] = (),
) -> Iterator[tuple[Executor, Callable[[], None]]]:
    """``(executor, forward)``: ``forward()`` passes every message the workers ``report``-ed
    since the last call to ``on_message``. ``initializer(*initargs)`` runs once in each worker
    (in this process for one worker). On an error or Ctrl-C the workers are stopped at once,
    not after the work in hand."""
    global _sink
    if workers <= 1:
        previous = _sink
        _sink = on_message
        if initializer is not None:
            initializer(*initargs)
        try:
            yield InlineExecutor(one_thread), lambda: None
        finally:
            _sink = previous
        return
    context = multiprocessing.get_context("spawn")
    messages = context.Queue()

    def forward() -> None:
        while True:
            try:
                message = messages.get_nowait()
            except queue.Empty:
                return
            if on_message is not None:
                on_message(message)

    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_start_worker, initargs=(messages, initializer, initargs)
    )
    try:
        yield pool, forward
    except BaseException:
        processes = list(getattr(pool, "_processes", {}).values())  # the executor has no public way to stop them
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        raise
    else:
        pool.shutdown(wait=True)
        forward()
    finally:
        messages.close()
