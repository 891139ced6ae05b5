"""Whose fault a failure is: the infrastructure's (wait for it) or the record's (set it aside).

The rule every consumer follows (docs/design.md, "Retries and dead letters"):

* **Transient** — the broker or the database cannot be reached, timed out, or is not the
  primary; a version conflict that kept recurring. Retrying later can succeed, and a
  healthy record must never be dead-lettered for it: the consumer holds the partition,
  retries with backoff, and reports not-ready until the infrastructure answers again.
* **Permanent** — what retrying the same record cannot cure: it does not parse, the rules
  cannot decide it, the database refuses the write for good (a unique index on another
  field, a document too large, a validation error), the broker refuses the record's size.
  The record is dead-lettered — at once when that is certain, else after
  ``CASEWORK_MAX_DELIVERY_ATTEMPTS`` deliveries of the same offset.
"""

from __future__ import annotations

from aiokafka.errors import KafkaError, MessageSizeTooLargeError, RecordTooLargeError
from pymongo.errors import (
    BulkWriteError,
    DocumentTooLarge,
    DuplicateKeyError,
    InvalidDocument,
    InvalidName,
    OperationFailure,
    PyMongoError,
)

from shared.kit.outcomes import ConcurrencyConflict, Refused

# MongoDB server codes that say the write itself is wrong, however often it is tried: a bad
# value or type, a field name or document the server cannot store, a validation rule, a
# duplicate key. Any other code (a network failure, an election, a shutdown, a lock, an
# error the server does not explain) is taken to pass.
PERMANENT_CODES = frozenset({2, 9, 14, 17, 52, 55, 56, 57, 66, 121, 10334, 11000, 11001, 16837, 17280, 17419})
# The broker refuses the record itself: it is too large, however often it is sent.
RECORD_REFUSED = (MessageSizeTooLargeError, RecordTooLargeError)


def is_transient(exc: BaseException) -> bool:
    """True when the failure is the infrastructure's and retrying later may succeed."""
    if isinstance(exc, ConcurrencyConflict):
        return True
    if isinstance(exc, Refused | DuplicateKeyError | DocumentTooLarge | InvalidDocument | InvalidName):
        return False
    if isinstance(exc, RECORD_REFUSED):
        return False
    if isinstance(exc, KafkaError):
        return True  # the broker is away, electing, or refusing us: infrastructure
    if isinstance(exc, BulkWriteError):
        codes = {e.get("code") for e in exc.details.get("writeErrors", [])}
        return not codes & PERMANENT_CODES
    if isinstance(exc, OperationFailure):
        return exc.code not in PERMANENT_CODES
    return isinstance(exc, PyMongoError | OSError | TimeoutError)  # connection, selection, timeouts
