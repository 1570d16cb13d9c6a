"""The trace pages (``/ui/traces``, ``/ui/traces/{id}``) as a person sees them: in headless Chromium.

A receiver dispatches to the AWX simulator; three real pushes of the GitOps repository (an API of
tenant-demo, a new API of a second tenant whose commit message is markup, an alias whose Sync Alias
job fails) end in two successful traces and a failed one. Chromium loads the list, the list filtered
by status and by tenant, and one trace; the assertions read the DOM Chromium built, and the
screenshots stay in tests/output/receiver-ui/ to be looked at.
"""
from __future__ import annotations

import concurrent.futures
import shutil
import struct
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest

import headless_chromium
from conftest import GitOpsRepo, push_body
from test_receiver_awx import awx, awx_config  # noqa: F401  (awx is a fixture)

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "tests" / "output" / "receiver-ui"
MARKUP = 'orders: <script>window.injected = "x"</script> & <b>bold</b> claims'
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Node:
    def __init__(self, tag: str, attrs: dict[str, str | None], parent: Node | None):
        self.tag, self.attrs, self.parent, self.children = tag, attrs, parent, []

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def iter(self, tag: str | None = None):
        for child in self.children:
            if isinstance(child, Node):
                if tag is None or child.tag == tag:
                    yield child
                yield from child.iter(tag)

    def find_all(self, tag: str) -> list[Node]:
        return list(self.iter(tag))

    def by_id(self, ident: str) -> Node:
        found = [n for n in self.iter() if n.attrs.get("id") == ident]
        assert len(found) == 1, f"{len(found)} elements with id {ident!r}"
        return found[0]

    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())


class DomBuilder(HTMLParser):
    """The tree of Chromium's serialized DOM (always well nested; void elements are not closed)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = self.current = Node("#document", {}, None)

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs), self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_endtag(self, tag):
        node = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        assert node is not None and node.parent is not None, f"stray </{tag}>"
        self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


def parse(html_text: str) -> Node:
    builder = DomBuilder()
    builder.feed(html_text)
    builder.close()
    return builder.root


def trace_rows(dom: Node) -> dict[str, dict]:
    """``#traces`` body rows by trace id: status text and class, tenant, message."""
    rows = {}
    (tbody,) = dom.by_id("traces").find_all("tbody")
    for tr in tbody.find_all("tr"):
        cells = tr.find_all("td")
        assert len(cells) == 9, f"a row of {len(cells)} cells: {tr.text()!r}"
        (link,) = cells[0].find_all("a")
        trace_id = cells[0].text()
        assert link.attrs["href"] == f"/ui/traces/{trace_id}"
        rows[trace_id] = {"status": cells[2].text(), "classes": cells[2].classes(), "tenant": cells[3].text(),
                          "api": cells[4].text(), "message": cells[7].text()}
    return rows


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == headless_chromium.PNG_SIGNATURE, f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def payload(before: str, after: str, message: str, author: str) -> dict:
    commit = {"id": after, "title": message, "message": message + "\n", "timestamp": "2026-11-02T10:00:00Z",
              "url": f"https://gitlab.example/commit/{after}", "author": {"name": author, "email": "dev@stoa.local"},
              "added": [], "modified": [], "removed": []}
    return push_body(before, after, commits=[commit], total_commits_count=1)


@pytest.fixture(scope="module")
def chromium() -> str:
    return headless_chromium.executable()


def test_trace_pages_in_headless_chromium(tmp_path, awx, start_receiver, chromium):  # noqa: F811
    gitops = GitOpsRepo(tmp_path)
    awx.configure(outcomes={"Sync Alias": "failed"})
    receiver = start_receiver(awx_config(tmp_path, gitops.remote, awx))
    petstore = gitops.work / "tenants/tenant-demo/apis/petstore-api"
    orders = {f"tenants/tenant-acme/apis/orders-api/{p.relative_to(petstore)}": p.read_text()
              for p in sorted(petstore.rglob("*")) if p.is_file()}
    alias = "aliases/dev/weather-backend.yaml"
    pushes = [("petstore: tidy the docs", "Ada", gitops.touch_api("tenant-demo", "petstore-api", "tidy")),
              (MARKUP, "Bob <bob@acme>", orders),
              ("weather alias: point at the new backend", "Cy", {alias: (gitops.work / alias).read_text() + "\n"})]
    posted = []   # (trace id, commit) in push order
    for message, author, files in pushes:
        before = gitops.head()
        after = gitops.commit(files, message)
        answer = receiver.post(payload(before, after, message, author))
        assert answer.status_code == 202, answer.text
        posted.append((answer.json()["trace_id"], after))
        receiver.wait_routed(answer.json()["event_id"])  # in push order: each one's "before" is routed
    receiver.wait_idle(timeout=60)
    by_id = {t: receiver.http.get(f"{receiver.url}/traces/{t}", timeout=5).json() for t, _c in posted}
    expected_status = dict(zip([t for t, _c in posted], ["successful", "successful", "failed"]))
    assert {t: j["status"] for t, j in by_id.items()} == expected_status, "the receiver's own view (JSON)"
    first, second, third = (t for t, _c in posted)

    base = f"{receiver.url}/ui/traces"
    pages = {"list": base, "successful": f"{base}?{urlencode({'status': 'successful'})}",
             "acme": f"{base}?{urlencode({'tenant': 'tenant-acme', 'hours': '1'})}",
             "trace": f"{base}/{quote(second)}"}
    shutil.rmtree(OUTPUT, ignore_errors=True)
    shots = {name: OUTPUT / f"{name}.png" for name in ("list", "successful", "trace")}
    with concurrent.futures.ThreadPoolExecutor(len(pages)) as pool:
        jobs = {name: pool.submit(headless_chromium.render, url, shots.get(name)) for name, url in pages.items()}
        doms = {name: parse(job.result()) for name, job in jobs.items()}

    # The list: one row per push, newest first, with its status (text and the class that colours it).
    listed = doms["list"]
    assert listed.by_id("traces").find_all("th")[2].text() == "Status"
    rows = trace_rows(listed)
    assert list(rows) == [third, second, first]
    assert {t: r["status"] for t, r in rows.items()} == expected_status
    assert all(r["classes"] == {"status", r["status"]} for r in rows.values())
    assert rows[first]["tenant"] == "tenant-demo" and rows[first]["api"] == "petstore-api"
    assert rows[second]["tenant"] == "tenant-acme" and rows[second]["api"] == "orders-api"
    # Markup in a commit message is text on the page, never elements.
    assert rows[second]["message"] == MARKUP
    assert not listed.find_all("script") and not listed.by_id("traces").find_all("b")
    form = listed.find_all("form")[0]
    assert {i.attrs.get("name") for i in form.iter() if i.tag in ("input", "select")} == {"tenant", "status", "hours"}

    # The filters narrow the list, and the form shows what was chosen.
    successful = doms["successful"]
    assert {t: r["status"] for t, r in trace_rows(successful).items()} == {first: "successful", second: "successful"}
    assert [o.attrs["value"] for o in successful.iter("option") if "selected" in o.attrs] == ["successful"]
    acme = doms["acme"]
    assert list(trace_rows(acme)) == [second]
    inputs = {i.attrs["name"]: i.attrs.get("value") for i in acme.iter("input")}
    assert inputs == {"tenant": "tenant-acme", "hours": "1"}

    # One trace: its status, commit and a timeline of its steps in order, times not going back.
    trace = doms["trace"]
    assert trace.by_id("trace-status").text() == "successful"
    assert f"Trace {second}" in trace.find_all("h1")[0].text()
    assert posted[1][1][:12] in trace.text() and MARKUP in trace.text() and not trace.find_all("script")
    steps = trace.by_id("timeline").find_all("li")
    names = [li.find_all("strong")[0].text() for li in steps]
    assert names == [s["step"] for s in by_id[second]["steps"]]
    assert names == ["received", "routed", "queued", "launched", "finished"]
    times = [li.find_all("span")[0].text() for li in steps]
    assert all(times) and times == sorted(times)
    assert "tenant-acme" in steps[2].text() and "successful" in steps[4].text()

    # The screenshots: real PNGs of the window size, with more in them than a blank page.
    for name, path in shots.items():
        assert png_size(path) == (1280, 900), name
        assert path.stat().st_size > 20_000, f"{path} is {path.stat().st_size} bytes: a blank page?"
