"""The change notifications the sandbox sends, as the real CRMs do.

- :mod:`.hubspot`: deal events (``deal.creation``, ``deal.propertyChange``,
  ``deal.deletion``) and the ``X-HubSpot-Signature-v3`` that signs them;
- :mod:`.salesforce`: Opportunity Outbound Messages (SOAP 1.1, answered with an Ack);
- :mod:`.delivery`: :class:`Webhooks`, one background thread per sandbox that batches,
  sends, retries and counts them.

Knobs (:class:`~sandbox.core.SandboxConfig`): ``hubspot_webhook_url`` with
``hubspot_client_secret``; ``salesforce_outbound_url`` with
``salesforce_organization_id``; ``webhook_debounce_seconds``, ``webhook_retry_seconds``
and ``webhook_attempts``. Without a URL nothing is queued or sent.

What sends them: API writes (single and batch creates, updates, upserts, deletes /
archives) and the Python API's one-record writes (``create`` / ``insert``, ``update``,
``archive``; so also ``add_deal``, ``edit`` and ``delete``), for HubSpot deals and
Salesforce Opportunities. Seeding in bulk (``create_many`` / ``insert_many``) sends
nothing. HubSpot changes made through the API say ``changeSource`` ``API``, the Python
API's ``CRM_UI``.

Simplifications: the app is subscribed to every deal property, and an update sends one
``deal.propertyChange`` per property it names, changed or not; one request is in flight
at a time (HubSpot allows 10). Like the real services, delivery is at least once and out
of order under retries: receivers should treat events as hints to pull.
"""

from __future__ import annotations

from sandbox.webhooks.delivery import Webhooks
from sandbox.webhooks.hubspot import sign_v3, signing_uri
from sandbox.webhooks.salesforce import OUTBOUND_NS, SOBJECT_NS, acknowledged

__all__ = ["OUTBOUND_NS", "SOBJECT_NS", "Webhooks", "acknowledged", "sign_v3", "signing_uri"]
