"""The configuration and the rules: every mistake named by file and field before anything starts."""
from __future__ import annotations

from pathlib import Path

import pytest

from webhook_receiver import config as receiver_config
from webhook_receiver.routing.rules import RulesError, load_jobs, load_rules

EXAMPLE = Path(__file__).resolve().parents[2] / "webhook_receiver" / "receiver.example.yml"
BASE = {"gitlab": {"project": "p/r", "secret_tokens": ["s"]}, "gitops": {"repository": "/tmp/r.git"}}


def load(data):
    return receiver_config.from_mapping(data, origin="r.yml")


def test_the_shipped_example_is_valid():
    loaded = receiver_config.load(EXAMPLE, resolve_secrets=False)
    assert loaded.launcher == "awx" and loaded.auto_environments == ["dev"]
    assert loaded.kafka_session_timeout == 10


@pytest.mark.parametrize("change, message", [
    ({"gitlab": {"project": "p/r"}}, "r.yml: gitlab.secret_tokens: no secret token and no signing token"),
    ({"gitops": {"repository": "/r", "auto_environments": ["dev", "prod"]}},
     "r.yml: gitops.auto_environments[1]: prod is never deployed by a push alone"),
    ({"dispatch": {"max_atempts": 3}}, "r.yml: dispatch.max_atempts: unknown setting (a typo?)"),
    ({"dispatch": {"concurrency": 0}}, "r.yml: dispatch.concurrency: must be greater than 0"),
    ({"listen": {"port": "8090"}}, "r.yml: listen.port: must be int, not str"),
    ({"gitlab": {"project": "p/r", "secret_tokens": ["env:NOT_SET_ANYWHERE_X"]}},
     "r.yml: gitlab.secret_tokens[0]: env:NOT_SET_ANYWHERE_X is not set in the environment"),
    ({"gitlab": {"project": "p/r", "signing_tokens": ["whsec_%%%"]}},
     "r.yml: gitlab.signing_tokens[0]: the signing token from the configuration file is not whsec_<base64>"),
    ({"gitlab": {"project": "p/r", "secret_tokens": ["s"], "max_body_bytes": 1000}},
     "must be at least GitLab's own limit"),
    ({"launcher": {"type": "awx", "awx": {"url": "http://a"}}}, "r.yml: launcher.awx.token: AWX needs a token"),
    ({"kafka": {"bootstrap_servers": "127.0.0.1:9", "session_timeout": 3}},
     "r.yml: kafka.session_timeout: must be between 6 and 300 seconds"),
])
def test_configuration_errors_name_the_field(change, message):
    with pytest.raises(receiver_config.ConfigError) as error:
        load({**BASE, **change})
    assert message in str(error.value)


def test_secrets_never_print_themselves(monkeypatch):
    monkeypatch.setenv("RECEIVER_TEST_TOKEN", "very-secret-value")
    loaded = load({**BASE, "gitlab": {"project": "p/r", "secret_tokens": ["env:RECEIVER_TEST_TOKEN"]}})
    assert "very-secret-value" not in repr(loaded) and loaded.secrets() == ["very-secret-value"]


def test_rules_errors_name_the_rule_and_field(tmp_path):
    rules = tmp_path / "rules.yml"
    rules.write_text("rules:\n  - {name: a, match: 'aliases/{environment}/**', job: sync_alias, environments: captured}\n"
                     "  - {name: b, match: 'x/**', job: deploy_everything}\n")
    with pytest.raises(RulesError, match="rule b: job: 'deploy_everything' is not a known job"):
        load_rules(rules, load_jobs())
    rules.write_text("rules:\n  - {name: a, match: 'aliases/**', job: sync_alias, environments: captured}\n")
    with pytest.raises(RulesError, match=r"rule a: environments: captured needs \{environment\} in match"):
        load_rules(rules, load_jobs())
    rules.write_text("rules:\n  - name: a\n    match: 'x/**'\n    job: iam_sync\n    on: [added]\n")
    with pytest.raises(RulesError, match="rules.0.: a key was read as a boolean .* write `changes:`"):
        load_rules(rules, load_jobs())


def test_secrets_from_vault_references(vault_service, monkeypatch):
    import hvac

    for name, value in vault_service.items():
        monkeypatch.setenv(name, value)
    client = hvac.Client(url=vault_service["VAULT_ADDR"], token=vault_service["VAULT_TOKEN"])
    client.secrets.kv.v2.create_or_update_secret(path="receiver-test/gitlab", mount_point="secret",
                                                 secret={"token": "from-vault-123"})
    loaded = load({**BASE, "gitlab": {"project": "p/r",
                                      "secret_tokens": ["vault:secret/data/receiver-test/gitlab#token"]}})
    assert loaded.gitlab.secret_tokens[0].value == "from-vault-123"
    with pytest.raises(receiver_config.ConfigError, match=r"r.yml: gitlab.secret_tokens\[0\]: .*has no key 'nope'"):
        load({**BASE, "gitlab": {"project": "p/r", "secret_tokens": ["vault:secret/data/receiver-test/gitlab#nope"]}})
