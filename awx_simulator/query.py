"""List views: AWX's query-string filters, ordering and page-number pagination.

Filters work like ``awx/api/filters.py`` (``FieldLookupBackend``) on the
serialized objects: ``field``, ``field__<lookup>`` with the lookups AWX
supports, relations through ``__`` (``organization__name``, ``labels__name``,
``job_template__name``: resolved through ``summary_fields``), the ``or__``,
``not__`` and ``chain__`` prefixes, ``search``, ``type`` and
``order_by``/``order``. Pagination is ``{"count", "next", "previous",
"results"}`` with ``page`` and ``page_size`` (default 25, at most 200).
"""
from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import urlencode

from .errors import APIError

RESERVED = ("page", "page_size", "format", "order", "order_by", "search", "type", "host_filter", "count_disabled",
            "no_truncate", "limit")
LOOKUPS = ("exact", "iexact", "contains", "icontains", "startswith", "istartswith", "endswith", "iendswith",
           "regex", "iregex", "gt", "gte", "lt", "lte", "in", "isnull")
DATETIMES = ("created", "modified", "started", "finished", "canceled_on", "last_job_run", "next_job_run", "expires")
PREVENT_SEARCH = ("extra_vars", "job_env", "job_args", "start_args", "survey_passwords", "host_config_key", "token")
PAGE_SIZE, MAX_PAGE_SIZE = 25, 200
_MISSING = object()


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes", "on", "t", "y"):
        return True
    if lowered in ("false", "0", "no", "off", "f", "n", ""):
        return False
    raise APIError(400, {"detail": f"Unable to convert \"{value}\" to boolean"})


def _datetime(value):
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise APIError(400, {"detail": f"[\"'{value}' value has an invalid format. It must be in "
                                       "YYYY-MM-DD HH:MM[:ss[.uuuuuu]][TZ] format.\"]"}) from None


def _resolve(item: dict, parts: list[str], model: str):
    """Candidate values of a lookup path (a relation may give several, as a SQL join would)."""
    first = parts[0]
    summary = item.get("summary_fields") or {}
    if first in summary and (len(parts) > 1 or first not in item):
        related = summary[first]
        if isinstance(related, dict) and "results" in related:
            related = related["results"]
        values = related if isinstance(related, list) else [related]
        for part in parts[1:] or ["id"]:
            values = [v.get(part) if isinstance(v, dict) else None for v in values]
        return values or [None]
    if first not in item:
        if first in item.get("related", {}) or first in ("labels", "credentials", "instance_groups"):
            return [None]
        raise APIError(400, {"detail": f"{model} has no field named '{first}'"})
    value = item[first]
    for part in parts[1:]:
        value = value.get(part) if isinstance(value, dict) else None
    return [value]


def _coerce(sample, raw: str, field: str):
    if field in DATETIMES:
        return _datetime(raw)
    if isinstance(sample, bool):
        return _bool(raw)
    if isinstance(sample, int):
        if raw.lower() in ("null", "none"):
            return None
        try:
            return int(raw)
        except ValueError:
            raise APIError(400, {"detail": f"Field '{field}' expected a number but got '{raw}'."}) from None
    if isinstance(sample, float):
        return float(raw)
    if sample is None and raw.lower() in ("null", "none"):
        return None
    return raw


def _match_one(value, lookup: str, raw: str, field: str) -> bool:
    if lookup == "isnull":
        return (value is None) == _bool(raw)
    if value is None:
        return lookup in ("exact", "iexact") and raw.lower() in ("null", "none")
    if field in DATETIMES:
        value = _datetime(value)
    if lookup == "in":
        if not raw:
            raise APIError(400, {"detail": "cannot provide empty value for __in"})
        return value in [_coerce(value, part, field) for part in raw.split(",")]
    if lookup in ("gt", "gte", "lt", "lte"):
        other = _coerce(value, raw, field)
        try:
            return {"gt": value > other, "gte": value >= other, "lt": value < other, "lte": value <= other}[lookup]
        except TypeError:
            return False
    if lookup == "exact":
        return value == _coerce(value, raw, field)
    text = value if isinstance(value, str) else str(value)
    if lookup == "iexact":
        return text.lower() == raw.lower()
    if lookup in ("regex", "iregex"):
        try:
            return re.search(raw, text, re.IGNORECASE if lookup == "iregex" else 0) is not None
        except re.error as exc:
            raise APIError(400, {"detail": exc.args[0]}) from None
    insensitive = lookup.startswith("i")
    if insensitive:
        text, raw = text.lower(), raw.lower()
    op = lookup[1:] if insensitive else lookup
    return {"contains": raw in text, "startswith": text.startswith(raw), "endswith": text.endswith(raw)}[op]


def _predicate(key: str, raw: str, model: str, strict: bool, aliases: dict):
    key = aliases.get(key, key)
    path, lookup = key, "exact"
    if "__" in key and key.rsplit("__", 1)[1] in LOOKUPS:
        path, lookup = key.rsplit("__", 1)
    parts = [p for p in path.split("__") if p]
    if not parts:
        raise APIError(400, {"detail": "Query string field name not provided."})
    if parts[0] == "pk":
        parts[0] = "id"
    if strict and parts[0] in PREVENT_SEARCH:
        raise APIError(403, {"detail": f"Filtering on {parts[0]} is not allowed."})
    if parts[-1] == "password":
        raise APIError(403, {"detail": "Filtering on password fields is not allowed."})

    def test(item: dict) -> bool:
        return any(_match_one(v, lookup, raw, parts[-1]) for v in _resolve(item, parts, model))

    return test


def filter_items(items: list[dict], query: dict[str, list[str]], model: str, strict: bool = False,
                 aliases: dict | None = None) -> list[dict]:
    """The items matching every filter of ``query`` (AND; ``or__`` filters are OR-ed together)."""
    aliases = aliases or {}
    and_tests, or_tests = [], []
    for key, values in query.items():
        if key in RESERVED:
            continue
        target = and_tests
        if key.startswith("chain__"):
            key = key[7:]
        elif key.startswith("or__"):
            key, target = key[4:], or_tests
        negate = key.startswith("not__")
        if negate:
            key = key[5:]
        for raw in values:
            test = _predicate(key, raw, model, strict, aliases)
            target.append((lambda t: lambda item: not t(item))(test) if negate else test)
    result = [i for i in items if all(t(i) for t in and_tests) and (not or_tests or any(t(i) for t in or_tests))]
    if "type" in query:
        types = {t for raw in query["type"] for t in raw.split(",")}
        result = [i for i in result if i.get("type") in types]
    if query.get("search"):
        terms = [t.lower() for raw in query["search"] for t in raw.split(",") if t]
        result = [i for i in result if any(t in str(i.get(f, "")).lower() for t in terms
                                           for f in ("name", "description", "username", "playbook"))]
    return result


def order_items(items: list[dict], query: dict[str, list[str]], default: tuple[str, ...], model: str) -> list[dict]:
    """Sorted by ``order_by``/``order`` (comma-separated, ``-`` for descending) then by the view's default."""
    requested = (query.get("order_by") or query.get("order") or [""])[-1]
    fields = [f for f in requested.split(",") if f] + list(default)
    for field in reversed(fields):
        descending = field.startswith("-")
        name = field.lstrip("-")
        if name == "pk":
            name = "id"
        parts = [p for p in name.split("__") if p]
        if items:
            _resolve(items[0], parts, model)  # unknown field: 400 as AWX

        def key(item, parts=parts):
            value = _resolve(item, parts, model)[0]
            if value is None:
                return (1, "")  # PostgreSQL puts NULLs last in ascending order
            return (0, value if isinstance(value, (int, float, str)) else str(value))
        items = sorted(items, key=key, reverse=descending)
    return items


def paginate(items: list[dict], query: dict[str, list[str]], path: str) -> dict:
    """The page asked for, with ``next``/``previous`` links like AWX's (relative, query kept)."""
    try:
        size = int((query.get("page_size") or [PAGE_SIZE])[-1])
        page = int((query.get("page") or [1])[-1])
    except ValueError:
        raise APIError(404, {"detail": "Invalid page."}) from None
    size = max(1, min(size, MAX_PAGE_SIZE))
    pages = max(1, -(-len(items) // size))
    if page < 1 or page > pages:
        raise APIError(404, {"detail": "Invalid page."})

    def link(number):
        params = [(k, v) for k, values in query.items() if k != "page" for v in values]
        if "page_size" in query and int(query["page_size"][-1]) > MAX_PAGE_SIZE:
            params = [(k, MAX_PAGE_SIZE if k == "page_size" else v) for k, v in params]
        params.append(("page", number))
        return f"{path}?{urlencode(params)}"

    if "count_disabled" in query:
        return {"results": items[(page - 1) * size:page * size]}
    return {"count": len(items), "next": link(page + 1) if page < pages else None,
            "previous": link(page - 1) if page > 1 else None, "results": items[(page - 1) * size:page * size]}
