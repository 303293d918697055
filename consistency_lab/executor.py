"""Run many independent tasks: on local processes (or threads), or on a Dask cluster.

The one way ``grade`` and ``sweep`` run many tasks: ``with open_executor(scheduler, jobs) as ex:
for result in ex.map(fn, tasks): ...`` yields each result as it finishes, wherever it ran.
Callers sort the results themselves, so nothing they write depends on the order of completion.
``fn`` must be importable by module path on every worker (a module-level function of this package).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import sys
from concurrent.futures import Executor as _PoolExecutor
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional, Sequence, TextIO

__all__ = ["ExecutorError", "LocalExecutor", "DaskExecutor", "open_executor", "progress_bar",
           "CONNECT_TIMEOUT_S"]

# A scheduler that does not answer within this long is reported, never waited on for ever.
CONNECT_TIMEOUT_S = 10.0


class ExecutorError(ValueError):
    """The executor cannot be used (a bad scheduler address, an unreachable scheduler, no Dask)."""


def _run_batch(fn: Callable[[Any], Any], batch: Sequence[Any]) -> list:
    """Run ``fn`` on each task of one batch (one pickled round trip for several cheap tasks)."""
    return [fn(task) for task in batch]


def _batches(tasks: Sequence[Any], batch: int) -> list[list]:
    return [list(tasks[i:i + batch]) for i in range(0, len(tasks), batch)]


class LocalExecutor:
    """``jobs`` local worker processes (or threads, for tasks that start their own process)."""

    def __init__(self, jobs: int = 1, threads: bool = False) -> None:
        self.jobs = max(1, int(jobs))
        self.threads = threads
        kind = ("thread", "threads") if threads else ("process", "processes")
        self.where = f"{self.jobs} local {kind[self.jobs != 1]}"
        self._pool: Optional[_PoolExecutor] = None

    @property
    def workers(self) -> int:
        """How many tasks run at a time."""
        return self.jobs

    def __enter__(self) -> "LocalExecutor":
        if self.threads:
            self._pool = ThreadPoolExecutor(max_workers=self.jobs)
        else:  # fork server: no fork of a process that runs threads (a progress bar's monitor, a client)
            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
            self._pool = ProcessPoolExecutor(max_workers=self.jobs, mp_context=context)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def map(self, fn: Callable[[Any], Any], tasks: Sequence[Any], batch: int = 1) -> Iterator[Any]:
        """Yield ``fn(task)`` for every task, in the order they finish."""
        assert self._pool is not None, "use the executor in a with block"
        futures = [self._pool.submit(_run_batch, fn, b) for b in _batches(list(tasks), max(1, batch))]
        try:
            for future in as_completed(futures):
                yield from future.result()
        finally:
            for future in futures:
                future.cancel()


class DaskExecutor:
    """A client of the Dask scheduler at ``address`` (``tcp://host:8786``), or of a cluster object."""

    def __init__(self, address: Any, timeout: Optional[float] = None) -> None:
        self.address = address
        self.timeout = CONNECT_TIMEOUT_S if timeout is None else timeout
        self.where = f"Dask scheduler {getattr(address, 'scheduler_address', address)}"
        self._client: Any = None

    @property
    def workers(self) -> int:
        """How many tasks the cluster's workers run at a time (their threads)."""
        info = self._client.scheduler_info() if self._client is not None else {}
        return max(1, sum(w.get("nthreads", 1) for w in info.get("workers", {}).values()))

    def __enter__(self) -> "DaskExecutor":
        try:
            from distributed import Client
        except ImportError:  # pragma: no cover - a core dependency
            raise ExecutorError("--scheduler needs dask.distributed: pip install 'distributed>=2024.1'") from None
        if isinstance(self.address, str):
            _check_address(self.address)
        try:
            self._client = Client(self.address, timeout=self.timeout, set_as_default=False)
        except Exception as exc:  # noqa: BLE001 - refused, timed out, unresolvable, not a Dask server: one line
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ExecutorError(f"scheduler={self.address!r}: cannot connect within {self.timeout:g} s "
                                f"({detail[:160]})") from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def map(self, fn: Callable[[Any], Any], tasks: Sequence[Any], batch: int = 1) -> Iterator[Any]:
        """Yield ``fn(task)`` for every task, in the order they finish on the cluster."""
        from distributed import as_completed as dask_completed

        assert self._client is not None, "use the executor in a with block"
        # pure=False: two equal tasks are still two runs (Dask would otherwise share one key).
        futures = [self._client.submit(_run_batch, fn, b, pure=False) for b in _batches(list(tasks), max(1, batch))]
        try:
            for future in dask_completed(futures, loop=self._client.loop):
                yield from future.result()
        finally:
            self._client.cancel(futures)


def _check_address(address: str) -> None:
    """ExecutorError unless ``address`` looks like ``tcp://HOST:PORT`` (or another Dask protocol)."""
    scheme, sep, rest = address.partition("://")
    host, colon, port = rest.rpartition(":")
    if (not sep or scheme not in ("tcp", "tls", "ws", "wss", "inproc", "ucx") or not colon or not host
            or not port.isdigit() or not 0 < int(port) < 65536):
        raise ExecutorError(f"scheduler={address!r} must be a Dask scheduler address; allowed: "
                            "tcp://HOST:PORT (for example tcp://10.0.0.5:8786)")


@contextmanager
def open_executor(scheduler: Any = None, jobs: int = 1, threads: bool = False) -> Iterator[Any]:
    """A Dask executor when ``scheduler`` is given (an address or a cluster), else ``jobs`` local workers."""
    ex: Any = DaskExecutor(scheduler) if scheduler is not None else LocalExecutor(jobs, threads=threads)
    with ex:
        yield ex


def default_batch(n_tasks: int, workers: int, per_worker: int = 8) -> int:
    """A batch size that gives each worker about ``per_worker`` batches (cheap tasks, fewer round trips)."""
    return max(1, math.ceil(n_tasks / (max(1, workers) * per_worker)))


def progress_bar(total: int, desc: str, quiet: bool = False, file: Optional[TextIO] = None) -> Any:
    """A tqdm bar on stderr: a widget in a notebook, a text bar on a terminal, nothing when piped or quiet."""
    from tqdm.auto import tqdm

    file = file if file is not None else sys.stderr
    # tqdm.auto picks its notebook class inside a Jupyter kernel (a widget) and the text one elsewhere.
    in_notebook = any(cls.__module__ == "tqdm.notebook" for cls in tqdm.__mro__)
    on_terminal = hasattr(file, "isatty") and file.isatty() and os.environ.get("TERM") != "dumb"
    # Piped output (a log file, a test) keeps its one line per task and no carriage returns.
    return tqdm(total=total, desc=desc, file=file, disable=quiet or not (in_notebook or on_terminal),
                unit="task", leave=True, dynamic_ncols=True)
