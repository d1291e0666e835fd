"""Segment-format traffic in: messages become raw events and daily rollups, in two steps.

**Accept** (at request time, ``app.api.segment``): check every message (``checks``; bad ones
are rejected one by one, with the reason logged for the source: ``outcomes``) and append the
good ones, as one row per batch, to the ingestion log (``ingest_batch``, through ``writer``);
the request is answered once that commit is durable. **Apply** (``applier``, in the background
or drained on demand): take the oldest logged batches, many per transaction, store them
(``store``: raw events, accounts, users and contacts from ``identities``, usage added to the
``rollups``) and delete their log rows in the same transaction — a crash before that commit
leaves the rows to be applied again, and the ``(source, messageId)`` deduplication makes a
second application count nothing twice. ``store.ingest_messages`` does both at once, in the
caller's transaction (the demo loader, tests).

Requests go before the applier, and SQLite's one writer is taken in turns (``pacing``); the hot
path's statements are written for the driver (``statements``); ``pending`` reports what is not
in the rollups yet; ``dead_letters`` keeps what the database refused; ``sources`` holds the
write keys; ``segment`` is the message format.
"""
