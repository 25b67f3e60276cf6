"""Running the checking half of an import in a second process, so checking and writing overlap.

On two cores a big import is bounded by whichever half is slower, not by their sum: this
process writes to the store while the worker reads and validates the next chunks.  The worker
gets only the request (paths and options) and sends back plain messages (text, integers, tuples),
which pickle quickly.  A bounded queue keeps it at most a few chunks ahead, so memory stays flat.
"""

from __future__ import annotations

import multiprocessing
import queue
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from greenfin.ingest.arrow_csv import ReaderDeclined
from greenfin.ingest.issues import ImportIssue, ImportRejected
from greenfin.ingest.stage import ImportRequest, Message, check_files

#: Below this many bytes of input the second process costs more than it saves.
WORKER_MIN_BYTES = 16 << 20
_AHEAD = 4  # chunks the worker may run ahead of the writer
_POLL_SECONDS = 1.0


@dataclass
class _Failed:
    kind: str  # rejected, declined or crashed
    issues: list[ImportIssue]
    total: int
    text: str


_DONE = "done"


def _work(request: ImportRequest, out: Any) -> None:
    try:
        for message in check_files(request):
            out.put(message)
        out.put(_DONE)
    except ImportRejected as rejected:
        out.put(_Failed("rejected", rejected.issues, rejected.total, str(rejected)))
    except ReaderDeclined as declined:
        out.put(_Failed("declined", [], 0, str(declined)))
    except BaseException:
        out.put(_Failed("crashed", [], 0, traceback.format_exc()))


def checked_in_worker(request: ImportRequest) -> Iterator[Message]:
    """The messages of :func:`check_files`, computed in a second process."""
    # On Linux the worker is forked: it starts at once, and a caller's script needs no
    # ``if __name__ == "__main__"`` guard, as it would to be re-imported by a spawned one.  The
    # worker never touches the parent's database connections and leaves by os._exit.
    context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    channel = context.Queue(maxsize=_AHEAD)
    start = context.Process  # type: ignore[attr-defined]
    process = start(target=_work, args=(request, channel), name="greenfin-import-check")
    process.daemon = True
    process.start()
    try:
        while True:
            try:
                message = channel.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                if not process.is_alive():
                    raise RuntimeError(f"the import checker stopped (exit code {process.exitcode})") from None
                continue
            if message == _DONE:
                return
            if isinstance(message, _Failed):
                if message.kind == "rejected":
                    raise ImportRejected(message.issues, message.total)
                if message.kind == "declined":
                    raise ReaderDeclined(message.text)
                raise RuntimeError(f"the import checker failed:\n{message.text}")
            yield message
    finally:
        if process.is_alive():
            process.kill()
        process.join()
        channel.close()
