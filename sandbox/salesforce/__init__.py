"""The Salesforce half of the CRM sandbox: an org that the real simple-salesforce accepts.

- :mod:`.org`: :class:`~.org.SalesforceOrg`, the state and its Python API;
- :mod:`.schema`, :mod:`.objects`: the metadata model and the org's sObjects;
- :mod:`.ids`: 15/18-character ids and their checksum;
- :mod:`.table`: compact row storage; :mod:`.values`: JSON <-> stored <-> wire values;
- :mod:`.writes`: API writes validated, then committed together (allOrNone);
- :mod:`.query`: SOQL cursors and pages; :mod:`.render`: records on the wire;
- :mod:`.describe`: describe and global describe;
- :mod:`.routes`, :mod:`.sobjects`, :mod:`.collections`, :mod:`.auth`: the Starlette
  routes, with :mod:`.endpoints` for their shared plumbing and :mod:`.errors` for
  Salesforce's error codes.
"""
