"""A simulator of the webMethods API Gateway 10.15 admin REST API (``/rest/apigateway``).

The real gateway is proprietary and cannot run here. This simulator behaves
like it for the parts the ``stoa.platform`` collection uses, following
``shared/webmethods/CONTRACT.md`` (the official 10.15 swagger files) and,
where they disagree, ``LIVE-NOTES.md`` (what a live 10.15 did). Every known
departure from the swagger files is listed in :mod:`gateway_simulator.deviations`,
and ``tests/contract`` checks the responses against the official schemas.

Layout:
- ``http.py``: the HTTP plumbing (routing, Basic/bearer auth, error bodies, request log);
- ``store.py``: the state, in memory and optionally saved to a JSON file;
- ``documents.py``: what the import accepts (OpenAPI 3.0.x, Swagger 2.0) and what it refuses;
- ``apis.py``, ``aliases.py``, ``applications.py``, ``policies.py``: one module per resource family;
- ``cli.py``: the ``stoa-gateway-sim`` console script.
"""
