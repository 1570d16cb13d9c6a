"""Local copies of the platform's servers, for tests, the demo and people.

OpenBao (Vault's API), Keycloak, a single-node Apache Kafka and PostgreSQL
run on 127.0.0.1, started from packages the project installs itself (PyPI,
Maven Central, Debian's postgresql). One launcher serves `make services-*` and the pytest fixtures, so
what a developer starts by hand is what the tests use.

    from local_services import registry
    endpoints = registry.up(["vault", "keycloak", "kafka"])
"""
