"""How `serve` runs uvicorn: deadlines and a connection cap that a hostile client cannot exhaust.

- A request's headers must arrive within `timeout_request_header_s`
  (`httpguard.py`); an idle keep-alive connection closes after
  `timeout_keep_alive_s`. Open event streams are never cut by either.
- At most `max_connections` connections (event streams included) per process;
  over it uvicorn answers 503 at once. By default the cap is the open-file
  limit minus `FD_RESERVE` for the database pools, the log and the listener,
  after raising the soft limit to the hard one, so that the process refuses
  new clients politely before the kernel refuses them with resets.
"""

from __future__ import annotations

import errno
import logging
import resource
import socket
from typing import Any

from progress_sse.settings import Settings
from progress_sse.web.httpguard import PROTOCOL

log = logging.getLogger(__name__)
FD_RESERVE = 64  # descriptors kept for pools, logs, the LISTEN connection, files


def raise_file_limit() -> int:
    """Lift the soft open-file limit to the hard one; return the limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft >= hard:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):  # not allowed here: keep the soft limit
        return soft
    return hard


def connection_cap(settings: Settings) -> int:
    """`max_connections`, or what the open-file limit leaves after the reserve."""
    files = raise_file_limit()
    if settings.max_connections is not None:
        if settings.max_connections > files - FD_RESERVE:
            log.warning(
                "PROGRESS_SSE_MAX_CONNECTIONS=%d is above what %d open files allow (%d); "
                "raise the limit (ulimit -n) or expect resets under load",
                settings.max_connections, files, files - FD_RESERVE,
            )  # fmt: skip
        return settings.max_connections
    return max(16, files - FD_RESERVE)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run`, the same for one process or several."""
    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "timeout_graceful_shutdown": 10,
        "timeout_keep_alive": settings.timeout_keep_alive_s,
        "limit_concurrency": connection_cap(settings),
        "http": PROTOCOL,
        "access_log": False,  # ours (middleware/accesslog.py) redacts query strings
        "log_config": None,  # logs.setup_logging already configured every logger
    }


def port_problem(host: str, port: int) -> str | None:
    """Why `host:port` cannot be served, checked before anything is seeded or printed (a
    demo key shown for a port another server answers on would lead nowhere)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (
                    f"port {port} on {host} is already in use (another server?); choose "
                    f"another with --port {port + 1} or PROGRESS_SSE_PORT={port + 1}"
                )
            return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None
