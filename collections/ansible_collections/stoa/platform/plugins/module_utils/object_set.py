# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What every set module shares (gateway_api_set, gateway_alias_set, keycloak_tenant_set): workers and results.

- :func:`run_each` runs the workers concurrently, ``parallelism`` at a time; each worker handles one unit
  in order (one API name with all its versions, one alias document, one tenant), so requests to one object
  stay ordered. A failing unit does not stop the others; its exception is kept for its result;
- :func:`summarise`, :func:`failure_message`, :func:`error_text` and :func:`exit_set` turn per-object results
  into the module's answer: every object converged that could be, then a failure naming each one that was not.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

try:
    from concurrent.futures import ThreadPoolExecutor
except ImportError:  # pragma: no cover - Python 2 only; ansible-core 2.16 needs Python 3 on the target
    ThreadPoolExecutor = None

DEFAULT_PARALLELISM = 8


def run_each(units, work, parallelism=DEFAULT_PARALLELISM, expected=()):
    """``[work(unit) or the exception it raised]`` in the order of ``units``.

    At most ``parallelism`` units run at once (1: one after the other, in this thread). An exception that is
    not one of the ``expected`` classes (a server's refusal, say) carries its traceback in
    ``exc.traceback_text`` for the result: it is a bug, reported on its unit.
    """
    def guarded(unit):
        try:
            return work(unit)
        # A bug in one unit must not take the others down; it is reported on that unit.
        except Exception as exc:  # pylint: disable=broad-except
            if not isinstance(exc, tuple(expected)):
                exc.traceback_text = traceback.format_exc()
            return exc

    units = list(units)
    if parallelism <= 1 or len(units) <= 1 or ThreadPoolExecutor is None:
        return [guarded(unit) for unit in units]
    with ThreadPoolExecutor(max_workers=min(parallelism, len(units))) as pool:
        return list(pool.map(guarded, units))


def summarise(results):
    """``{total, changed, unchanged, failed, operations: {operation: count}}`` of per-object results."""
    operations = {}
    for result in results:
        for operation in result.get("operations") or []:
            operations[operation] = operations.get(operation, 0) + 1
    failed = sum(1 for r in results if r.get("error"))
    changed = sum(1 for r in results if r.get("changed"))
    return dict(total=len(results), changed=changed, failed=failed,
                unchanged=sum(1 for r in results if not r.get("changed") and not r.get("error")),
                operations=operations)


def failure_message(kind, results, label):
    """One line naming every failed object with its error, or None when none failed."""
    failed = [r for r in results if r.get("error")]
    if not failed:
        return None
    return "%d of %d %s failed: %s" % (len(failed), len(results), kind,
                                       "; ".join("%s: %s" % (label(r), r["error"]) for r in failed))


def error_text(exc):
    """What a result's ``error`` says about an exception (an unexpected one is flagged as a bug)."""
    text = str(exc) or type(exc).__name__
    if hasattr(exc, "traceback_text"):
        return "%s: %s (unexpected; traceback in the module's debug output)" % (type(exc).__name__, text)
    return text


def set_diff(results, label):
    """The module's ``diff`` (``{before: {label: view}, after: {label: view}}``) over the objects that change,
    or in check mode would change: an unchanged object adds nothing a diff shows, and at 500 APIs or 200 tenants
    its views made most of the answer Ansible scans for secrets and copies (0.96 s of a 200-tenant no-op)."""
    changed = [r for r in results if r.get("changed") and r.get("diff")]
    return dict(before=dict((label(r), r["diff"].get("before")) for r in changed),
                after=dict((label(r), r["diff"].get("after")) for r in changed))


def exit_set(module, kind, label, output):
    """End a set module: ``fail_json`` with :func:`failure_message` of ``output["results"]`` when an object
    failed, else ``exit_json``; both carry the whole ``output`` (the other objects did converge)."""
    message = failure_message(kind, output["results"], label)
    if message:
        module.fail_json(msg=message, **output)
    module.exit_json(**output)
