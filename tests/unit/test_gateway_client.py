"""The gateway client's transport: retries, errors an operator can act on, auth headers."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import stoa_tools  # noqa: F401
from ansible_collections.stoa.platform.plugins.module_utils.gateway_client import GatewayClient, GatewayError


class FlakyProxy:
    """A stand-in for a load balancer in front of the gateway: answers a scripted list of statuses."""

    def __init__(self, script):
        self.script = list(script)
        self.seen = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                outer.seen.append((self.command, self.path, self.headers.get("Authorization")))
                status, body = outer.script.pop(0) if outer.script else (200, {"apiResponse": []})
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(request):
    proxies = []

    def make(*script):
        p = FlakyProxy(script)
        proxies.append(p)
        return p

    yield make
    for p in proxies:
        p.close()


def client(url, **kwargs):
    return GatewayClient(url, "Administrator", "pw", backoff=0.01, **kwargs)


def test_get_is_retried_on_502_503_504(proxy):
    p = proxy((502, None), (503, None), (504, None), (200, {"apiResponse": []}))
    assert client(p.url, retries=3).list_apis() == []
    assert len(p.seen) == 4


def test_retries_run_out_with_the_last_status(proxy):
    p = proxy((503, None), (503, None))
    with pytest.raises(GatewayError) as caught:
        client(p.url, retries=1).list_apis()
    assert caught.value.status == 503 and len(p.seen) == 2


def test_500_is_not_retried_and_the_message_has_method_path_status_details(proxy):
    p = proxy((500, {"errorDetails": " Cannot construct instance of Schema"}))
    with pytest.raises(GatewayError) as caught:
        client(p.url).get_policy("p1")
    assert len(p.seen) == 1
    assert str(caught.value) == "GET /policies/p1 answered HTTP 500: Cannot construct instance of Schema"


def test_post_is_not_repeated_after_a_502(proxy):
    p = proxy((502, None), (201, {"policyAction": {"id": "a"}}))
    with pytest.raises(GatewayError):
        client(p.url).create_policy_action({"templateKey": "throttle"})
    assert len(p.seen) == 1  # the gateway may have created it: no duplicate


def test_apis_service_errors_come_from_the_envelope_and_401_explains_itself(proxy):
    p = proxy((400, {"apiResponse": {"responseStatus": "ERROR", "errorReason": "API is active."}}),
              (401, {"errorDetails": " User doesn't have permission"}))
    with pytest.raises(GatewayError, match=r"PUT /apis/x answered HTTP 400: API is active\."):
        client(p.url).update_api("x", {"id": "x"})
    with pytest.raises(GatewayError, match="also answers 401 for an API id that does not exist"):
        client(p.url).get_api("gone")


def test_connection_refused_is_retried_then_reported(proxy):
    p = proxy()
    url = p.url
    p.close()
    with pytest.raises(GatewayError, match=r"GET /apis failed: .*after 3 attempts"):
        client(url, retries=2).list_apis()


def test_basic_and_bearer_auth_and_base_path(proxy):
    p = proxy((200, {"apiResponse": []}), (200, {"apiResponse": []}))
    client(p.url).list_apis()
    GatewayClient(p.url + "/rest/apigateway/", token="t0k").list_apis()
    assert p.seen[0][1] == "/rest/apigateway/apis" and p.seen[0][2].startswith("Basic ")
    assert p.seen[1][1] == "/rest/apigateway/apis" and p.seen[1][2] == "Bearer t0k"


def test_envelope_variants_are_unwrapped(proxy):
    p = proxy((200, [{"id": "s1"}]), (200, {"strategies": [{"id": "s2"}]}),
              (200, {"applications": [{"id": "a1"}]}), (201, {"id": "a2"}))
    c = client(p.url)
    assert c.list_strategies() == [{"id": "s1"}]
    assert c.list_strategies() == [{"id": "s2"}]
    assert c.get_application("a1") == {"id": "a1"}
    assert c.create_application({"name": "n"}) == {"id": "a2"}
