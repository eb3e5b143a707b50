"""The store's own errors, each with a one-line message a person can act on.

::

    StoreError                 any problem with the partner store
    ├── StoreUnavailable       bad URL, missing driver, database unreachable (retry later)
    ├── SchemaOutOfDate        the database is behind (or ahead of) this partnersync
    └── AppendOnlyViolation    an attempt to change or delete a ledger or audit row

URLs in messages always have their password masked.
"""

from __future__ import annotations

__all__ = ["AppendOnlyViolation", "SchemaOutOfDate", "StoreError", "StoreUnavailable"]


class StoreError(Exception):
    """A problem with the partner store; the message is one line."""


class StoreUnavailable(StoreError):
    """The store cannot be reached or its URL cannot be used."""


class SchemaOutOfDate(StoreError):
    """The database schema is not at the revision this partnersync needs."""


class AppendOnlyViolation(StoreError):
    """A ledger entry or audit row was about to be updated or deleted."""
