"""The HTTP API: partner intake, approvals, payouts, reports and the deal inspector, over
the same services as the command line (never a second implementation).

- :mod:`sync.api.keys`: bearer keys (created, listed, revoked; stored as hashes) and who a
  request's key is; no web framework, so the command line uses it too;
- :mod:`sync.api.app`: the FastAPI application (``create_app``) and its routes;
- :mod:`sync.api.errors`: the one error shape and the status of each refusal;
- :mod:`sync.api.idempotency`: ``Idempotency-Key`` answers kept and replayed;
- :mod:`sync.api.limits`: the request size limit and the per-key rate limit.
"""
