"""The receiver's configuration: one YAML file, checked whole before anything starts.

Every secret (GitLab secret tokens, signing tokens, the AWX token or password) may be
written as ``env:NAME`` (read from the environment) or as a Vault reference
``vault:<mount>/data/<path>#<key>`` (KV v2, read once at start-up with VAULT_ADDR and
VAULT_TOKEN or AppRole, through the collection's ``vault_refs``), or, for a laptop,
literally. Secrets are held in :class:`Secret` objects whose ``repr`` never shows them.

Errors are :class:`ConfigError` with the field's dotted path, e.g.
``receiver.yml: gitlab.secret_tokens[1]: env:GITLAB_TOKEN is not set``.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from webhook_receiver import _collection  # noqa: F401  (puts the collection on sys.path)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RULES = Path(__file__).resolve().parent / "routing" / "default_rules.yml"
# GitLab's own request body limit (infra/03-gitlab-webhooks.md): we accept at least as much.
GITLAB_MAX_BODY = 25 * 1024 * 1024
# Environments a push may deploy to. Production is deployed only through an approved request.
NEVER_AUTO = frozenset({"prod"})


class ConfigError(ValueError):
    """A configuration problem; the message starts with the file and the field's dotted path."""


class Secret:
    """A secret value that never prints itself (``repr``/``str`` show only where it came from)."""

    __slots__ = ("value", "source")

    def __init__(self, value: str, source: str):
        self.value, self.source = value, source

    def __repr__(self) -> str:
        return f"Secret(from {self.source})"

    __str__ = __repr__


@dataclass
class GitLabConfig:
    project: str                       # path_with_namespace, e.g. platform/stoa-gitops
    project_id: int | None = None      # GitLab's numeric id, when known
    branch: str = "main"
    secret_tokens: list[Secret] = field(default_factory=list)   # X-Gitlab-Token, several during a rotation
    signing_tokens: list[Secret] = field(default_factory=list)  # whsec_... (Standard Webhooks signing)
    replay_window: float = 300.0       # seconds a signed delivery's webhook-timestamp may be off
    max_body_bytes: int = GITLAB_MAX_BODY


@dataclass
class RunnerConfig:
    project_dir: Path = REPO_ROOT      # where playbooks/ and inventories/ are
    max_parallel: int = 2              # ansible-runner jobs at once
    default_inventory: str = "dev"     # inventory of jobs that have no environment (IAM Sync, Provision Tenant)
    extra_env: dict[str, str] = field(default_factory=dict)


@dataclass
class AwxConfig:
    url: str
    token: Secret | None = None
    username: str | None = None
    password: Secret | None = None
    verify_ssl: bool = True
    inventories: dict[str, str] = field(default_factory=lambda: {
        "dev": "STOA dev", "staging": "STOA staging", "prod": "STOA prod"})
    default_inventory: str = "STOA dev"
    poll_interval: float = 2.0         # seconds between job status polls (first poll sooner, backs off to this)
    templates: dict[str, str] = field(default_factory=dict)  # job name -> template name overrides
    notification_token: Secret | None = None  # AWX webhook notifications to /hooks/awx-notification poll at once


@dataclass
class DispatchConfig:
    concurrency: int = 50              # AWX jobs launched and followed at once (AWX queues beyond its capacity)
    max_attempts: int = 8              # launch attempts before the dead-letter list
    backoff_initial: float = 2.0       # seconds; doubled per attempt, with jitter
    backoff_max: float = 300.0
    lease_seconds: float = 120.0       # a claim not renewed for this long is taken back (crashed process)
    job_timeout: float = 3600.0        # seconds a launched job may run before it is reported as timed out


@dataclass
class Config:
    path: Path | None
    host: str = "127.0.0.1"
    port: int = 8090
    state_dir: Path = REPO_ROOT / ".stoa" / "receiver"
    gitlab: GitLabConfig = field(default_factory=lambda: GitLabConfig(project=""))
    gitops_repository: str = ""        # what the mirror fetches; jobs get it as gitops_repo
    auto_environments: list[str] = field(default_factory=lambda: ["dev"])
    prune_on_removal: bool = False
    rules_file: Path = DEFAULT_RULES
    gap_grace: float = 5.0             # seconds an out-of-order push waits for the push it follows
    launcher: str = "runner"           # runner | awx
    runner: RunnerConfig = field(default_factory=RunnerConfig)
    awx: AwxConfig | None = None
    dispatch: DispatchConfig = field(default_factory=DispatchConfig)
    kafka_bootstrap_servers: str | None = None   # results to audit-log, deploy-results, notifications
    kafka_consume_requests: bool = True
    kafka_requests_topic: str = "deploy-requests"
    kafka_dead_letter_topic: str = "deploy-requests.dlq"
    kafka_group_id: str = "stoa-receiver"
    # Seconds before the group coordinator gives a silent consumer's partitions to another replica (librdkafka's
    # default is 45 s; a replica that died holds its partitions that long). Brokers accept 6 to 300 s by default.
    kafka_session_timeout: float = 10.0
    store_url: Secret | None = None    # postgresql://... (several replicas share it); None: SQLite in state_dir
    store_schema: str | None = None    # PostgreSQL schema of the tables (default: the role's search_path, public)
    log_level: str = "INFO"

    @property
    def database(self) -> Path:
        return self.state_dir / "receiver.db"

    @property
    def mirror_dir(self) -> Path:
        return self.state_dir / "mirror.git"

    def secrets(self) -> list[str]:
        """Every secret value, for tests and log scrubbing."""
        values = [s.value for s in self.gitlab.secret_tokens + self.gitlab.signing_tokens]
        if self.awx:
            values += [s.value for s in (self.awx.token, self.awx.password, self.awx.notification_token) if s]
        if self.store_url:
            from urllib.parse import urlsplit

            password = urlsplit(self.store_url.value).password
            values += [self.store_url.value] + ([password] if password else [])
        return values


class _Reader:
    """Reads one section with paths in every message."""

    def __init__(self, origin: str, data: Any, where: str = ""):
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{origin}: {where or 'the document'}: must be a mapping, not {type(data).__name__}")
        self.origin, self.data, self.where, self.used = origin, data, where, set()

    def path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.origin}: {self.path(key)}: {message}")

    def get(self, key: str, kind: type | tuple, default: Any = None, required: bool = False) -> Any:
        self.used.add(key)
        if key not in self.data or self.data[key] is None:
            if required:
                raise self.fail(key, "is required")
            return default
        value = self.data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind in (int, float) and isinstance(value, bool)):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.fail(key, f"must be {names}, not {type(value).__name__} ({value!r})")
        return value

    def positive(self, key: str, kind: type, default: Any) -> Any:
        value = self.get(key, kind, default)
        if value <= 0:
            raise self.fail(key, f"must be greater than 0, not {value}")
        return value

    def section(self, key: str) -> "_Reader":
        self.used.add(key)
        return _Reader(self.origin, self.data.get(key), self.path(key))

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise self.fail(unknown[0], "unknown setting (a typo?); known here: " + ", ".join(sorted(self.used)))


def resolve_secret(text: Any, where: str, vault: "_Vault") -> Secret:
    """``env:NAME``, ``vault:<mount>/data/<path>#<key>`` or a literal, as a :class:`Secret`."""
    if not isinstance(text, str) or not text:
        raise ConfigError(f"{where}: must be a non-empty string (env:NAME, vault:<mount>/data/<path>#<key> or the value)")
    if isinstance(vault, _Unresolved):
        return Secret("", text)
    if text.startswith("env:"):
        name = text[4:]
        value = os.environ.get(name)
        if not value:
            raise ConfigError(f"{where}: {text} is not set in the environment")
        return Secret(value, text)
    if text.startswith("vault:"):
        return Secret(vault.resolve(text, where), text)
    return Secret(text, "the configuration file")


class _Vault:
    """Resolves vault: references on first use, with the collection's resolver (VAULT_* variables)."""

    def __init__(self) -> None:
        self._resolver = None

    def resolve(self, reference: str, where: str) -> str:
        from ansible_collections.stoa.platform.plugins.module_utils import vault_refs

        try:
            if self._resolver is None:
                self._resolver = vault_refs.VaultResolver({
                    "vault_addr": os.environ.get("VAULT_ADDR"),
                    "vault_auth_method": os.environ.get("VAULT_AUTH_METHOD") or "token",
                    "vault_token": os.environ.get("VAULT_TOKEN"),
                    "vault_role_id": os.environ.get("VAULT_ROLE_ID"),
                    "vault_secret_id": os.environ.get("VAULT_SECRET_ID"),
                    "vault_namespace": os.environ.get("VAULT_NAMESPACE")})
            return self._resolver.resolve(reference)
        except vault_refs.VaultRefError as exc:
            raise ConfigError(f"{where}: {exc}") from None


class _Unresolved(_Vault):
    """Stands for the Vault when secrets are not to be read (read-only CLI verbs)."""


def _secret_list(reader: _Reader, key: str, vault: _Vault) -> list[Secret]:
    raw = reader.get(key, (list, str), [])
    items = [raw] if isinstance(raw, str) else raw
    return [resolve_secret(item, f"{reader.origin}: {reader.path(key)}[{n}]", vault) for n, item in enumerate(items)]


def _check_signing_token(secret: Secret, where: str) -> None:
    # A non-base64 key is accepted silently by standardwebhooks (receiver-models.md §2): check it here.
    import base64
    import binascii

    text = secret.value[len("whsec_"):] if secret.value.startswith("whsec_") else secret.value
    try:
        key = base64.b64decode(text + "==", validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{where}: the signing token from {secret.source} is not whsec_<base64>") from None
    if len(key) < 16:
        raise ConfigError(f"{where}: the signing token from {secret.source} is shorter than 16 bytes")


def load(path: str | Path, *, resolve_secrets: bool = True) -> Config:
    """Reads and checks the configuration file; raises :class:`ConfigError` naming the field.

    ``resolve_secrets=False`` (the CLI's read verbs) leaves secrets unread: ``env:``/``vault:`` need not resolve."""
    path = Path(path)
    origin = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{origin}: cannot be read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}:" if mark else ""
        raise ConfigError(f"{origin}:{line} not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    return from_mapping(data, origin=origin, base=path.parent, resolve_secrets=resolve_secrets)


def from_mapping(data: Any, origin: str = "configuration", base: Path | None = None,
                 resolve_secrets: bool = True) -> Config:
    """Builds a :class:`Config` from parsed YAML; relative paths are relative to ``base``."""
    base = base or Path.cwd()
    top = _Reader(origin, data)
    vault = _Vault() if resolve_secrets else _Unresolved()

    def local_path(value: str) -> Path:
        candidate = Path(os.path.expanduser(value))
        return candidate if candidate.is_absolute() else (base / candidate).resolve()

    config = Config(path=Path(origin) if origin != "configuration" else None)
    listen = top.section("listen")
    config.host = listen.get("host", str, config.host)
    config.port = listen.get("port", int, config.port)
    if not 0 <= config.port <= 65535:
        raise listen.fail("port", f"must be 0..65535, not {config.port}")
    listen.done()
    config.state_dir = local_path(top.get("state_dir", str, str(config.state_dir)))
    config.log_level = top.get("log_level", str, "INFO").upper()

    gitlab = top.section("gitlab")
    project = gitlab.get("project", (str, int), required=True)
    config.gitlab = GitLabConfig(project=str(project))
    if isinstance(project, int):
        config.gitlab.project_id = project
    config.gitlab.project_id = gitlab.get("project_id", int, config.gitlab.project_id)
    config.gitlab.branch = gitlab.get("branch", str, "main")
    config.gitlab.secret_tokens = _secret_list(gitlab, "secret_tokens", vault)
    config.gitlab.signing_tokens = _secret_list(gitlab, "signing_tokens", vault)
    for n, secret in enumerate(config.gitlab.signing_tokens):
        if resolve_secrets:
            _check_signing_token(secret, f"{origin}: gitlab.signing_tokens[{n}]")
    if not config.gitlab.secret_tokens and not config.gitlab.signing_tokens:
        raise gitlab.fail("secret_tokens", "no secret token and no signing token: every delivery would be accepted "
                          "unauthenticated; set at least one (GitLab: Settings > Webhooks > Secret token)")
    config.gitlab.replay_window = gitlab.positive("replay_window", float, 300.0)
    config.gitlab.max_body_bytes = gitlab.positive("max_body_bytes", int, GITLAB_MAX_BODY)
    if config.gitlab.max_body_bytes < GITLAB_MAX_BODY:
        raise gitlab.fail("max_body_bytes", f"must be at least GitLab's own limit, {GITLAB_MAX_BODY} bytes (25 MB)")
    gitlab.done()

    gitops = top.section("gitops")
    repository = gitops.get("repository", str, required=True)
    config.gitops_repository = repository if "://" in repository or "@" in repository else str(local_path(repository))
    config.auto_environments = gitops.get("auto_environments", list, ["dev"])
    for n, name in enumerate(config.auto_environments):
        if not isinstance(name, str) or not name:
            raise gitops.fail(f"auto_environments[{n}]", "must be an environment name")
        if name in NEVER_AUTO:
            raise gitops.fail(f"auto_environments[{n}]", f"{name} is never deployed by a push alone; production "
                              "changes go through approved promotion requests (requests/prod/)")
    config.prune_on_removal = gitops.get("prune_on_removal", bool, False)
    gitops.done()

    routing = top.section("routing")
    rules = routing.get("rules", str)
    if rules:
        config.rules_file = local_path(rules)
    config.gap_grace = routing.get("gap_grace", float, 5.0)
    if config.gap_grace < 0:
        raise routing.fail("gap_grace", "must be 0 or more seconds")
    routing.done()

    kafka = top.section("kafka")
    config.kafka_bootstrap_servers = kafka.get("bootstrap_servers", str)
    if resolve_secrets and config.kafka_bootstrap_servers and config.kafka_bootstrap_servers.startswith("env:"):
        name = config.kafka_bootstrap_servers[4:]
        config.kafka_bootstrap_servers = os.environ.get(name)
        if not config.kafka_bootstrap_servers:
            raise kafka.fail("bootstrap_servers", f"env:{name} is not set in the environment")
    config.kafka_consume_requests = kafka.get("consume_requests", bool, True)
    config.kafka_requests_topic = kafka.get("requests_topic", str, "deploy-requests")
    config.kafka_dead_letter_topic = kafka.get("dead_letter_topic", str, "deploy-requests.dlq")
    config.kafka_group_id = kafka.get("group_id", str, "stoa-receiver")
    config.kafka_session_timeout = kafka.positive("session_timeout", (int, float), config.kafka_session_timeout)
    if not 6 <= config.kafka_session_timeout <= 300:
        raise kafka.fail("session_timeout", f"must be between 6 and 300 seconds (the brokers' default bounds, "
                         f"group.min/max.session.timeout.ms), not {config.kafka_session_timeout:g}")
    kafka.done()

    store = top.section("store")
    url = store.get("url", str)
    if url is not None:
        where = f"{origin}: store.url"
        if url.startswith("env:"):
            # Read even for the read-only CLI verbs: they open the store (an environment variable, no Vault call).
            name = url[4:]
            value = os.environ.get(name)
            if not value and resolve_secrets:
                raise ConfigError(f"{where}: {url} is not set in the environment")
            config.store_url = Secret(value or "", url)  # "": unresolved; the CLI says so if it needs the store
        elif url.startswith("vault:"):
            config.store_url = resolve_secret(url, where, vault)
        else:
            config.store_url = Secret(url, "the configuration file")
        value = config.store_url.value
        if value and not re.match(r"^postgres(ql)?://", value):
            raise ConfigError(f"{where}: must be a postgresql:// URL (from {config.store_url.source}); "
                              "leave store.url out for SQLite in state_dir")
    config.store_schema = store.get("schema", str)
    if config.store_schema is not None:
        if not re.match(r"^[a-z_][a-z0-9_]{0,62}$", config.store_schema):
            raise store.fail("schema", f"must be a lower-case SQL identifier, not {config.store_schema!r}")
        if config.store_url is None:
            raise store.fail("schema", "applies to PostgreSQL only: set store.url too")
    store.done()

    dispatch = top.section("dispatch")
    d = DispatchConfig()
    d.concurrency = dispatch.positive("concurrency", int, d.concurrency)
    d.max_attempts = dispatch.positive("max_attempts", int, d.max_attempts)
    d.backoff_initial = dispatch.positive("backoff_initial", float, d.backoff_initial)
    d.backoff_max = dispatch.positive("backoff_max", float, d.backoff_max)
    d.lease_seconds = dispatch.positive("lease_seconds", float, d.lease_seconds)
    d.job_timeout = dispatch.positive("job_timeout", float, d.job_timeout)
    dispatch.done()
    config.dispatch = d

    launcher = top.section("launcher")
    config.launcher = launcher.get("type", str, "runner")
    if config.launcher not in ("runner", "awx"):
        raise launcher.fail("type", f"must be runner or awx, not {config.launcher!r}")
    runner = launcher.section("runner")
    config.runner.project_dir = local_path(runner.get("project_dir", str, str(REPO_ROOT)))
    config.runner.max_parallel = runner.positive("max_parallel", int, 2)
    config.runner.default_inventory = runner.get("default_inventory", str, "dev")
    extra_env = runner.get("env", dict, {})
    config.runner.extra_env = {str(k): str(v) for k, v in extra_env.items()}
    runner.done()
    awx = launcher.section("awx")
    if config.launcher == "awx" or awx.data:
        a = AwxConfig(url=awx.get("url", str, required=config.launcher == "awx") or "")
        if a.url and not re.match(r"^https?://[^/\s:]+(:\d+)?(/\S*)?$", a.url):
            raise awx.fail("url", f"must be http(s)://host[:port][/path], not {a.url!r}")
        token, password = awx.get("token", str), awx.get("password", str)
        a.token = resolve_secret(token, f"{origin}: launcher.awx.token", vault) if token else None
        a.username = awx.get("username", str)
        a.password = resolve_secret(password, f"{origin}: launcher.awx.password", vault) if password else None
        if config.launcher == "awx" and not a.token and not (a.username and a.password):
            raise awx.fail("token", "AWX needs a token (Bearer) or username and password (basic)")
        a.verify_ssl = awx.get("verify_ssl", bool, True)
        a.inventories = awx.get("inventories", dict, a.inventories)
        a.default_inventory = awx.get("default_inventory", str, a.default_inventory)
        a.poll_interval = awx.positive("poll_interval", float, a.poll_interval)
        a.templates = awx.get("templates", dict, {})
        notification = awx.get("notification_token", str)
        a.notification_token = (resolve_secret(notification, f"{origin}: launcher.awx.notification_token", vault)
                                if notification else None)
        awx.done()
        config.awx = a
    launcher.done()
    top.done()
    return config
