"""The partner program's pure core: no database, HTTP, broker or clock (``now`` is passed
in). It imports nothing of partnersync: :mod:`rules.vocabulary` holds the domain's closed
vocabularies; the matching, registration, commission and payout rules join it as they are
built."""
