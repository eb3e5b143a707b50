"""The mirror: CRM pages -> mapped rows -> the store, with handlers on each page's changes.

:func:`~sync.mirror.pull.pull` reads what changed since the stored watermark and upserts it
in bulk; the handlers passed to it (drift correction first; registration links and
accruals later) see each page's changes in the page's own transaction.
"""
