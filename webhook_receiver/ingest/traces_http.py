"""``GET /traces``, ``/traces/{trace_id}`` (JSON) and ``/ui/traces``, ``/ui/traces/{trace_id}`` (HTML).

The page is rendered on the server, escaped, with no script and no front-end build: a list
with filters (tenant, status, time window) and, per trace, a timeline of its steps.
Read-only: the store is only queried.
"""
from __future__ import annotations

import html
import json
import time
from datetime import datetime, timezone

from aiohttp import web

from ..observability import traces

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; width: 100%; }} th, td {{ text-align: left; padding: .35em .6em; }}
tr:nth-child(even) {{ background: #f4f6f8; }} th {{ background: #233; color: #fff; }}
.status {{ font-weight: 600; }} .successful {{ color: #1a7f37; }} .failed {{ color: #c62828; }}
.running, .queued {{ color: #b26a00; }} .ignored, .routed, .received {{ color: #666; }}
form {{ margin: 1em 0; }} form label {{ margin-right: 1em; }}
ol.timeline {{ list-style: none; border-left: 3px solid #233; padding-left: 1.2em; }}
ol.timeline li {{ margin: .6em 0; }} .at {{ color: #555; font-family: monospace; }}
#traces td:first-child {{ white-space: nowrap; }} #traces td:nth-child(8) {{ overflow-wrap: anywhere; }}
</style></head><body>{body}</body></html>"""


def _since(value: str | None) -> float | None:
    """``since``/``until``: Unix seconds, or an ISO 8601 time; None when absent. Raises ValueError."""
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()


def _filters(request: web.Request) -> dict:
    query = request.query
    status = query.get("status") or None
    if status and status not in traces.STATUSES:
        raise web.HTTPBadRequest(text=json.dumps({"error": f"status must be one of {', '.join(traces.STATUSES)}"}),
                                 content_type="application/json")
    try:
        limit = min(max(int(query.get("limit") or 50), 1), 500)
        hours = query.get("hours")
        since = _since(query.get("since")) if not hours else time.time() - float(hours) * 3600
        until = _since(query.get("until"))
    except ValueError:
        raise web.HTTPBadRequest(text=json.dumps({"error": "limit, hours, since and until must be numbers or "
                                                           "ISO 8601 times"}), content_type="application/json")
    return {"tenant": query.get("tenant") or None, "status": status, "since": since, "until": until, "limit": limit}


def routes(store) -> list[web.RouteDef]:
    """The four read-only routes over ``store``."""

    async def list_json(request: web.Request) -> web.Response:
        return web.json_response(traces.search(store, **_filters(request)))

    async def one_json(request: web.Request) -> web.Response:
        trace = traces.find(store, request.match_info["trace_id"])
        if trace is None:
            return web.json_response({"error": "no such trace"}, status=404)
        return web.json_response(trace)

    async def list_page(request: web.Request) -> web.Response:
        chosen = _filters(request)
        found = traces.search(store, **chosen)
        e = html.escape
        options = "".join(f'<option value="{s}"{" selected" if chosen["status"] == s else ""}>{s}</option>'
                          for s in traces.STATUSES)
        rows = "".join(
            f'<tr><td><a href="/ui/traces/{e(t["trace_id"])}">{e(t["trace_id"])}</a></td><td>{e(t["trigger"])}</td>'
            f'<td class="status {e(t["status"])}">{e(t["status"])}</td><td>{e(", ".join(t["tenants"]) or "-")}</td>'
            f'<td>{e(", ".join(t["apis"]) or "-")}</td><td>{e(", ".join(t["environments"]) or "-")}</td>'
            f'<td>{e((t["git"]["commit"] or "")[:12])}</td><td>{e(t["git"]["message"] or "")}</td>'
            f'<td class="at">{e(t["received_at"] or "")}</td></tr>' for t in found)
        body = (f'<h1>Pipeline traces</h1><form method="get" action="/ui/traces">'
                f'<label>Tenant <input name="tenant" value="{e(chosen["tenant"] or "")}"></label>'
                f'<label>Status <select name="status"><option value="">any</option>{options}</select></label>'
                f'<label>Last hours <input name="hours" size="4" value="{e(request.query.get("hours", ""))}"></label>'
                f'<button type="submit">Filter</button></form>'
                f'<table id="traces"><thead><tr><th>Trace</th><th>Trigger</th><th>Status</th><th>Tenant</th>'
                f'<th>API</th><th>Environment</th><th>Commit</th><th>Message</th><th>Received</th></tr></thead>'
                f'<tbody>{rows or "<tr><td colspan=9>No trace matches.</td></tr>"}</tbody></table>')
        return web.Response(text=PAGE.format(title="Pipeline traces", body=body), content_type="text/html")

    async def one_page(request: web.Request) -> web.Response:
        trace = traces.find(store, request.match_info["trace_id"])
        e = html.escape
        if trace is None:
            return web.Response(status=404, content_type="text/html",
                                text=PAGE.format(title="No such trace", body="<h1>No such trace</h1>"
                                                 '<p><a href="/ui/traces">All traces</a></p>'))
        git = trace["git"]
        steps = "".join(f'<li><span class="at">{e(s["at"] or "")}</span> <strong>{e(s["step"])}</strong> '
                        f'<span class="status {e(s["status"])}">{e(s["status"])}</span> {e(s["detail"] or "")}</li>'
                        for s in trace["steps"])
        body = (f'<p><a href="/ui/traces">All traces</a></p><h1>Trace {e(trace["trace_id"])}</h1>'
                f'<p>Trigger <strong>{e(trace["trigger"])}</strong>, status '
                f'<span class="status {e(trace["status"])}" id="trace-status">{e(trace["status"])}</span>; '
                f'event {e(trace["event_id"])}</p>'
                f'<p>Git: {e(git["ref"] or "")} {e((git["before"] or "")[:12])}..{e((git["commit"] or "")[:12])} by '
                f'{e(git["author"] or git["user"] or "?")}: {e(git["message"] or "")}</p>'
                f'<p>Tenants {e(", ".join(trace["tenants"]) or "-")}; APIs {e(", ".join(trace["apis"]) or "-")};'
                f' environments {e(", ".join(trace["environments"]) or "-")}</p>'
                f'<h2>Timeline</h2><ol class="timeline" id="timeline">{steps}</ol>')
        return web.Response(text=PAGE.format(title=f"Trace {e(trace['trace_id'])}", body=body),
                            content_type="text/html")

    return [web.get("/traces", list_json), web.get("/traces/{trace_id}", one_json),
            web.get("/ui/traces", list_page), web.get("/ui/traces/{trace_id}", one_page)]
