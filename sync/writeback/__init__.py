"""The write-back: what the CRM must show, staged in the outbox and pushed in batches.

:func:`~sync.writeback.outbox.stage` records desired values in the caller's transaction;
:func:`~sync.writeback.push.push` sends only the mapped fields that differ, in API-sized
batches; :mod:`~sync.writeback.preview` shows what a push would send and what waits.
"""
