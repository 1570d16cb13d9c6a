"""stoa-receiver: GitLab webhooks in, the right AWX (or ansible-runner) jobs out, durably and once.

The package is laid out by what each part does, in the order an event meets them:

- ``config``: the YAML configuration; secrets from the environment or Vault.
- ``ingest/``: ``POST /hooks/gitlab`` (authentication, limits, classification), health, metrics.
- ``store/``: the durable store (SQLite, one writer, group commit) behind one interface.
- ``routing/``: the GitOps mirror (``git diff before..after``) and the rules that turn
  changed paths into job requests ``(job, tenant, api, environment, ref)``.
- ``dispatch/``: the queue of job requests: coalesced while waiting, serialised while
  running, retried with backoff, dead-lettered after too many failures.
- ``launchers/``: one contract, two implementations: AWX (awxkit) and local ansible-runner.
- ``observability/``: Prometheus metrics and JSON logs.
- ``service``: wires them into one process; ``cli``: ``stoa-receiver`` and its verbs.
"""
