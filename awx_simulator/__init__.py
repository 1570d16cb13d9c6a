"""A simulator of the AWX 24.6.1 REST API (AWX itself cannot run on this machine).

Enough of AWX for the webhook receiver (awxkit 24.6.1), the awx.awx
collection, the ``awx`` CLI and ansible-rulebook's ``run_job_template``:
the API roots, organizations, inventories, credentials, projects, labels,
job templates and their launch (``ignored_fields`` exactly as AWX computes
them), workflows, jobs whose status moves on a simulated clock, job events
and stdout, tokens and sessions; plus a ``/_sim/`` admin API for tests
(launch log, counters, settings, failure injection). ``README.md`` lists what
differs from AWX.

Layout:
- ``store.py``: the state (objects, jobs, launch log, settings), one lock, optional JSON file;
- ``seed.py``: the objects of a fresh simulator, read from ``awx/objects.yml``;
- ``jobs.py``: job lifecycle on the clock, workflows, events and stdout;
- ``launch.py``: launch validation and the prompts accepted or ignored;
- ``serializers.py``: each object's JSON; ``query.py``: filters, ordering, pagination;
- ``metadata.py``: ``OPTIONS`` answers (the awx CLI builds its arguments from them);
- ``api.py``: the routes; ``admin.py``: ``/_sim/``; ``faults.py``: failure injection;
- ``simulator.py``: auth, request handling, the in-process API and :func:`start`;
- ``http.py``: the HTTP server; ``cli.py``: the ``stoa-awx-sim`` console script.
"""
from .simulator import Simulator, start

__all__ = ["Simulator", "start"]
