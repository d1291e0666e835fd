"""Who writes when: ``/v1`` requests go before the applier, SQLite's one writer is taken in
turns within the process, and the applier's transactions are sized and spaced by how busy
requests keep the server.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlmodel import Session

from app.ingest.statements import sql_of


class _Turn:
    """Who writes next, within one process.

    SQLite has one writer: the request writer and the applier take turns on ``lock`` rather than
    on SQLite's busy handler (which sleeps up to 100 ms between tries). And requests go first,
    on any engine: the applier rests after each of its transactions in proportion to how busy
    ``/v1`` was while it last rested (``ApplierPacer``), so a flood is acknowledged at nearly the
    speed of the log (senders' buffers are finite: an SDK whose requests are slow drops events)
    and applied in full once it ebbs, while steady traffic that leaves time free leaves it to
    the applier; past the backlog limit requests are refused with 503 until it catches up.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count_lock = threading.Lock()
        self.in_flight = 0
        self.last_request = float("-inf")  # time.monotonic() when a request last ended
        self.busy_total = 0.0  # seconds during which a request was in flight, summed
        self.busy_since = 0.0  # time.monotonic() when the requests in flight began

    @contextmanager
    def request(self) -> Iterator[None]:
        with self.count_lock:
            if not self.in_flight:
                self.busy_since = time.monotonic()
            self.in_flight += 1
        try:
            yield
        finally:
            with self.count_lock:
                self.in_flight -= 1
                self.last_request = time.monotonic()
                if not self.in_flight:
                    self.busy_total += self.last_request - self.busy_since

    def busy(self, quiet: float) -> bool:
        """Whether a request is in flight or ended less than ``quiet`` seconds ago."""
        return bool(self.in_flight) or time.monotonic() - self.last_request < quiet

    def busy_seconds(self) -> float:
        """Seconds during which a request was in flight, since the process started."""
        with self.count_lock:
            ongoing = time.monotonic() - self.busy_since if self.in_flight else 0.0
            return self.busy_total + ongoing


_TURN = _Turn()
#: While requests keep the server busy all the time, the applier still takes this share of it:
#: after a transaction of 0.2 s it rests 1.8 s. A flood is acknowledged at ~9/10 of full speed
#: and its backlog is applied in full when it ebbs; a larger share hardly slows the backlog's
#: growth during a flood (the applier stores events several times slower than they are
#: acknowledged) but slows the acknowledgements, and senders' buffers are finite. Measured
#: with the benchmark: a quarter gave 25,000 acknowledged events/s, a tenth 27,800.
APPLIER_SHARE = 0.1
#: Requests count as coming in until none has been in flight for this long (a client's next
#: batch follows its previous answer within a few milliseconds).
APPLIER_QUIET = 0.05


def request_in_flight() -> contextlib.AbstractContextManager[None]:
    """Mark a ``/v1`` request in flight for as long as the block runs (the applier waits)."""
    return _TURN.request()


class ApplierPacer:
    """How long the applier rests between transactions: it takes the share of the time that
    ``/v1`` requests left free while it last rested, and at least ``APPLIER_SHARE``.

    Requests busy 10% of the rest → the applier takes 90%: a transaction of 0.2 s, then 0.02 s
    of rest; busy all the time → 10%: 0.2 s, then 1.8 s. The busy time is measured only while
    the applier rests: while it writes, requests wait for it (SQLite), which says nothing.
    """

    def __init__(self, turn: _Turn | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.turn = turn or _TURN
        self.clock = clock
        self.rest_began: tuple[float, float] | None = None  # (clock, busy seconds)
        self.utilization = 0.0  # share of the last rest during which requests were in flight

    def starting(self) -> None:
        """Call before each transaction: measures how busy requests were during the rest."""
        if self.rest_began is None:  # no rest to measure: are requests coming in right now?
            self.utilization = 1.0 if self.turn.busy(APPLIER_QUIET) else 0.0
            return
        began, busy = self.rest_began
        elapsed = self.clock() - began
        if elapsed > 0:
            self.utilization = min(1.0, (self.turn.busy_seconds() - busy) / elapsed)

    def rest(self, took: float) -> float:
        """Seconds to rest after a transaction that stored something and took ``took`` s."""
        share = max(APPLIER_SHARE, 1.0 - self.utilization)
        self.rest_began = (self.clock(), self.turn.busy_seconds())
        return max(0.001, took * (1 - share) / share)

    def idle(self) -> None:
        """Call when a transaction found nothing to store: the next rest is measured afresh."""
        self.rest_began = None


def write_turn_lock() -> threading.Lock:
    """The process's write turn on SQLite (``_Turn``): the log writer takes it without waiting."""
    return _TURN.lock


@contextmanager
def writer_turn(engine: Any) -> Iterator[None]:
    """Hold the process's write turn: on SQLite the one writer's (see ``_Turn``)."""
    if engine.dialect.name != "sqlite":
        yield
        return
    with _TURN.lock:
        yield


def take_write_lock(session: Session) -> None:
    """On SQLite, make the transaction the writer before it reads anything.

    A transaction that reads first and writes later cannot wait for another writer that
    committed in between (its snapshot is stale: SQLITE_BUSY_SNAPSHOT, no busy timeout); one
    that writes first waits its turn. A DELETE matching nothing is the cheapest write.
    PostgreSQL needs nothing: its row locks wait.
    """
    sql = sql_of(session)
    if not sql.postgres:
        sql.execute(session, "DELETE FROM ingest_batch WHERE id < 0", [])


#: One apply transaction takes the oldest batches up to about this many messages: large enough
#: that the rollup writes collapse (a 300-account day has ~6,000 rollup rows, not one per event),
#: small enough that a request waiting to append to the log waits well under a second.
APPLY_MESSAGES = 5000
#: ... and while requests are coming in, about this many: on SQLite a request waits for the
#: applier's transaction to end, ~0.1 s rather than ~0.5 s.
APPLY_MESSAGES_BUSY = 1000


def apply_budget() -> int:
    """How many messages the applier's next transaction should take (see ``_Turn``)."""
    return APPLY_MESSAGES_BUSY if _TURN.busy(APPLIER_QUIET) else APPLY_MESSAGES
