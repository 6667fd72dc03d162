"""Where the per-kernel work of ``btfembed build`` runs.

* ``local`` (the default): worker processes on this machine
  (``--jobs``), forked from the build so they inherit the parsed objects;
* ``dask://HOST:PORT``: an existing ``dask.distributed`` cluster, through
  its ``concurrent.futures`` interface (``Client.get_executor()``).  The
  objects, options and cache location are sent to the workers once
  (scattered); each task is one kernel and returns its result, gathered in
  key order exactly as a local build does, so the outputs are identical.

Dask workers must be able to import the same btfembed version, and read
the kernel files and the cache directory at the paths this machine uses (a
cluster on one machine, or a shared file system); relative paths are sent
as absolute ones (workers do not share the build's working directory).  A
worker that cannot write the cache just does not store its results.
Install the extra with ``pip install 'btfembed[dask]'``.
"""

from __future__ import annotations

import os
import re
from typing import Any, Callable, Sequence

from btfembed.errors import BTFEmbedError, ConfigError

__all__ = ["parse_executor", "run_on_dask", "ExecutorError"]

_DASK = re.compile(r"^dask://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")
CONNECT_TIMEOUT = 30


class ExecutorError(BTFEmbedError):
    """The remote executor failed (cannot connect, a task died)."""
    exit_code = 4


def parse_executor(spec: str | None) -> str | None:
    """``None``/``"local"`` -> ``None``; ``dask://HOST:PORT`` -> the
    scheduler address ``tcp://HOST:PORT``; anything else is refused."""
    if spec is None or spec in ("", "local"):
        return None
    m = _DASK.match(spec)
    if not m or not 0 < int(m.group(2)) < 65536:
        raise ConfigError(f"executor must be 'local' or 'dask://HOST:PORT', not {spec!r}")
    return f"tcp://{m.group(1)}:{int(m.group(2))}"


def _client(address: str) -> Any:
    import socket  # the Dask path's imports stay out of local builds

    try:
        from distributed import Client
    except ImportError:
        raise ConfigError("the Dask executor needs dask.distributed: pip install 'btfembed[dask]'") from None
    host, _, port = address[len("tcp://"):].rpartition(":")
    try:  # fail at once when nothing listens, rather than retrying until the timeout
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT).close()
        return Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ExecutorError(f"cannot connect to the Dask scheduler at {address}: "
                            f"{exc.__class__.__name__}: {exc}") from None


def _absolute(kernel: Any) -> Any:
    """``kernel`` (a ``KernelInput``) with absolute paths."""
    return kernel._replace(path=os.path.abspath(kernel.path), modules=tuple(os.path.abspath(m) for m in kernel.modules))


def run_on_dask(address: str, context: Any, tasks: Sequence[tuple[int, Any, str]],
                done: Callable[[int, Any], None]) -> None:
    """Run ``process_in_context(context, kernel, digest)`` for every
    ``(index, kernel, digest)`` on the cluster; ``done(index, result)``
    as results arrive."""
    import concurrent.futures as futures

    from btfembed.build.pipeline import process_in_context

    if context.cache_root is not None:
        context = context._replace(cache_root=os.path.abspath(context.cache_root))
    given = {i: kernel for i, kernel, _digest in tasks}   # results name the kernels as given
    client = _client(address)
    try:
        key = context.key()
        shared = client.scatter(context, broadcast=True, hash=False)
        executor = client.get_executor(pure=False)
        pending = {executor.submit(process_in_context, shared, key, _absolute(kernel), digest): i
                   for i, kernel, digest in tasks}
        try:
            for fut in futures.as_completed(pending):
                try:
                    result = fut.result()
                except BTFEmbedError:
                    raise
                except Exception as exc:
                    raise ExecutorError(f"a Dask task failed: {exc.__class__.__name__}: {exc}") from None
                i = pending.pop(fut)  # dropping the future lets the worker free the result
                done(i, result._replace(kernel=given[i]))
        finally:
            for fut in pending:
                fut.cancel()
    finally:
        client.close()
