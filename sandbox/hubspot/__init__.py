"""The HubSpot half of the CRM sandbox: a portal that the real hubspot-api-client accepts.

- :mod:`.portal`: :class:`~.portal.HubSpotPortal`, the state and its Python API;
- :mod:`.schema`, :mod:`.catalog`: property definitions and the ones a portal starts with;
- :mod:`.values`: wire strings <-> compact internal values;
- :mod:`.records`, :mod:`.indexes`: rows, id order, unique and time indexes;
- :mod:`.objects`, :mod:`.batch`, :mod:`.search`, :mod:`.properties`,
  :mod:`.associations`, :mod:`.oauth`: the endpoints' semantics;
- :mod:`.routes`: the Starlette routes; :mod:`.errors`: HubSpot's error bodies.
"""
