"""The proxy process's log: our logger's lines on stderr (which `start --detach` appends to proxy.log), or
also straight into proxy.log when running in the foreground. Set up once per process, workers included.

The lines are written by a `QueueListener` thread: a log call on the event loop only queues its record, so a
slow disk (or stderr) never stalls requests. What is queued is written at exit."""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import os
import queue
import sys
from pathlib import Path

__all__ = ["set_debug", "setup_logging"]

FORMAT = "%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s"


def setup_logging(log_file: Path | None, debug: bool) -> None:
    """Idempotent: a process that already has our handlers (e.g. a worker that imported twice) keeps them."""
    root = logging.getLogger("ccproxy_desktop")
    if root.handlers:
        return
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None and os.environ.get("CCPROXY_LOG_TO_FILE") == "1":
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(logging.Formatter(FORMAT))
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    listener = logging.handlers.QueueListener(records, *handlers, respect_handler_level=True)
    listener.start()
    atexit.register(listener.stop)
    root.addHandler(logging.handlers.QueueHandler(records))
    set_debug(debug)
    root.propagate = False


def set_debug(debug: bool) -> None:
    logging.getLogger("ccproxy_desktop").setLevel(logging.DEBUG if debug else logging.INFO)
