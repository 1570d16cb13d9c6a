"""Fixtures for the webhook receiver: a real GitOps remote, GitLab payloads with real SHAs, a running receiver."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import pytest
import requests

from gitops_remote import git, make_remote
from webhook_receiver import config as receiver_config
from webhook_receiver.service import Service

SHARED = Path(__file__).resolve().parents[3] / "shared" / "gitlab"
EDGE = SHARED / "edge-cases"
TOKEN = "test-secret-token-not-real"          # edge-cases/README.md
PROJECT = "platform/stoa-gitops"
PROJECT_ID = 4242
SIGNING_KEY = (EDGE / "10-signing-key.txt").read_text().splitlines()[0].strip()


class GitOpsRepo:
    """A bare remote (examples/gitops) and a working clone to make real commits in."""

    def __init__(self, tmp_path: Path):
        self.remote = make_remote(tmp_path)
        self.work = tmp_path / "work"
        git("clone", "--quiet", str(self.remote), str(self.work), cwd=tmp_path)

    def head(self) -> str:
        return git("rev-parse", "HEAD", cwd=self.work).strip()

    def commit(self, files: dict[str, str | None], message: str = "change", push: bool = True) -> str:
        """Writes (or deletes, for None) files, commits, pushes; returns the new SHA."""
        for path, content in files.items():
            target = self.work / path
            if content is None:
                git("rm", "-r", "--quiet", path, cwd=self.work)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
            git("add", "--", path, cwd=self.work)
        git("commit", "--quiet", "--allow-empty", "-m", message, cwd=self.work)
        if push:
            self.push()
        return self.head()

    def push(self, *extra: str) -> None:
        git("push", "--quiet", *extra, "origin", "HEAD:main", cwd=self.work)

    def touch_api(self, tenant: str, api: str, note: str) -> dict[str, str]:
        path = f"tenants/{tenant}/apis/{api}/openapi.yaml"
        current = (self.work / path).read_text() if (self.work / path).exists() else ""
        return {path: current + f"\n# {note}\n"}


def push_body(before: str, after: str, ref: str = "refs/heads/main", project: str = PROJECT,
              project_id: int = PROJECT_ID, **extra) -> dict:
    """GitLab's documented push payload (shared/gitlab/push_hook.json) for our project and real SHAs."""
    body = json.loads((SHARED / "push_hook.json").read_text())
    body.update({"before": before, "after": after, "ref": ref, "checkout_sha": after, "project_id": project_id, **extra})
    body["project"].update(id=project_id, path_with_namespace=project)
    return body


def edge_case(name: str, substitutions: dict[str, str] | None = None) -> tuple[bytes, dict]:
    """Raw body bytes and headers of shared/gitlab/edge-cases/<name>, with placeholder SHAs replaced."""
    body = (EDGE / f"{name}.json").read_bytes()
    for old, new in (substitutions or {}).items():
        body = body.replace(old.encode(), new.encode())
    headers = json.loads((EDGE / f"{name}.headers.json").read_text())
    return body, headers


def sign(body: bytes, msg_id: str, timestamp: int, key: str = SIGNING_KEY) -> str:
    secret = base64.b64decode(key.removeprefix("whsec_") + "==")
    digest = hmac.new(secret, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


class Receiver:
    """A running receiver (HTTP on a free port) and helpers to post to it and wait for its work."""

    def __init__(self, service: Service, url: str):
        self.service, self.url, self.store = service, url, service.store
        self.http = requests.Session()

    def post(self, body, headers: dict | None = None, token: str | None = TOKEN, key: str | None = None,
             raw: bool = False) -> requests.Response:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent = {"Content-Type": "application/json", "X-Gitlab-Event": "Push Hook"}
        if token is not None:
            sent["X-Gitlab-Token"] = token
        if key:
            sent["Idempotency-Key"] = key
        sent.update(headers or {})
        return self.http.post(f"{self.url}/hooks/gitlab", data=data, headers=sent, timeout=30)

    def wait_routed(self, event_id: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            event = self.store.event(event_id)
            if event and event["status"] != "accepted":
                return event
            time.sleep(0.02)
        raise AssertionError(f"{event_id} not routed within {timeout} s: {self.store.event(event_id)}")

    def wait_idle(self, timeout: float = 60) -> dict:
        """Until nothing is unrouted, waiting or running; returns the store's stats."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stats = self.store.stats()
            if (not stats["events"].get("accepted") and not stats["queue_depth"]
                    and not stats["requests"].get("launching") and not stats["requests"].get("running")):
                return stats
            time.sleep(0.05)
        raise AssertionError(f"receiver still busy after {timeout} s: {self.store.stats()}")

    def requests_by_key(self) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        for row in self.store.query("SELECT * FROM job_requests ORDER BY id"):
            out.setdefault(row["key"], []).append(row)
        return out

    def metric(self, name: str, **labels) -> float:
        text = self.http.get(f"{self.url}/metrics", timeout=10).text
        total = 0.0
        for line in text.splitlines():
            if not line.startswith(name) or line.startswith("#"):
                continue
            metric, _, value = line.rpartition(" ")
            if metric.split("{")[0] != name:
                continue
            if all(f'{k}="{v}"' in metric for k, v in labels.items()):
                total += float(value)
        return total


def receiver_config_for(tmp_path: Path, remote: Path, **overrides) -> receiver_config.Config:
    data = {
        "listen": {"host": "127.0.0.1", "port": 0},
        "state_dir": str(tmp_path / "receiver"),
        "gitlab": {"project": PROJECT, "project_id": PROJECT_ID, "secret_tokens": ["old-rotated-secret", TOKEN],
                   "signing_tokens": [SIGNING_KEY]},
        "gitops": {"repository": str(remote)},
        "dispatch": {"backoff_initial": 0.05, "backoff_max": 0.5},
    }
    for section, values in overrides.items():
        if isinstance(values, dict) and isinstance(data.get(section), dict):
            data[section] = {**data[section], **values}
        else:
            data[section] = values
    return receiver_config.from_mapping(data, origin="test-receiver.yml", base=tmp_path)


@pytest.fixture
def gitops(tmp_path) -> GitOpsRepo:
    return GitOpsRepo(tmp_path)


@pytest.fixture
def start_receiver(tmp_path):
    """``start_receiver(config, launcher=None, dispatch=True, auth_clock=None) -> Receiver``; stopped at the end."""
    started: list[Service] = []

    def start(config, launcher=None, dispatch: bool = True, auth_clock=None) -> Receiver:
        service = Service(config, launcher=launcher, **({"auth_clock": auth_clock} if auth_clock else {}))
        started.append(service)
        url = service.start_in_thread(port=0, dispatch=dispatch)
        return Receiver(service, url)

    yield start
    for service in started:
        service.stop()
