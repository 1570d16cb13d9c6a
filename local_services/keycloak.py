"""Keycloak, the official server distribution from Maven Central, in dev mode.

The zip is fetched once by Maven (into ~/.m2 and ``.cache/keycloak``) and
unpacked there; the database (dev-file H2) and the bootstrap admin's random
password live together under ``.stoa/keycloak`` so that they always match.
"""
from __future__ import annotations

import os
import secrets
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

import requests

from . import java, paths
from .process import Service

VERSION = os.environ.get("STOA_KEYCLOAK_VERSION", "26.5.6")
MIN_JAVA = 21  # Keycloak 26 documents OpenJDK 21 (17 is deprecated)


@dataclass
class Keycloak(Service):
    name: str = "keycloak"
    port: int = int(os.environ.get("STOA_KEYCLOAK_PORT", "18080"))
    management_port: int = int(os.environ.get("STOA_KEYCLOAK_MANAGEMENT_PORT", "19000"))
    start_timeout: float = 300.0  # first boot on 2 cores augments Quarkus: 1-2 minutes

    def __post_init__(self) -> None:
        self.ports = (self.port, self.management_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def home(self) -> Path:
        return paths.CACHE_DIR / "keycloak" / f"keycloak-{VERSION}"

    @property
    def data_dir(self) -> Path:
        return paths.state_dir("keycloak")

    @property
    def password_file(self) -> Path:
        return self.data_dir / "admin-password"

    def admin_password(self) -> str:
        return self.password_file.read_text().strip()

    def _unpack(self) -> None:
        archive = paths.cache("keycloak", f"keycloak-quarkus-dist-{VERSION}.zip")
        if not archive.exists():
            java.mvn(
                f"{java.DEPENDENCY_PLUGIN}:copy",
                f"-Dartifact=org.keycloak:keycloak-quarkus-dist:{VERSION}:zip",
                f"-DoutputDirectory={archive.parent}",
            )
        partial = self.home.with_name(self.home.name + ".partial")
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(partial)
        # The zip holds one top folder, keycloak-<version>.
        (partial / f"keycloak-{VERSION}").rename(self.home)
        partial.rmdir()
        for script in (self.home / "bin").glob("*.sh"):
            script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)

    def prepare(self) -> None:
        self.java_home = java.find_java_home(MIN_JAVA, f"Keycloak {VERSION}")
        if not (self.home / "bin" / "kc.sh").exists():
            self._unpack()
        # The bootstrap admin is created only with a new database: keep the
        # password with the database so the two never disagree.
        if not (self.data_dir / "h2").exists() or not self.password_file.exists():
            for old in (self.data_dir / "h2").glob("*"):
                old.unlink()
            self.password_file.write_text(secrets.token_urlsafe(18))
            self.password_file.chmod(0o600)
        self.extra_env = {
            "JAVA_HOME": self.java_home,
            "JAVA_OPTS_KC_HEAP": "-Xms64m -Xmx768m",
            "KC_BOOTSTRAP_ADMIN_USERNAME": "admin",
            "KC_BOOTSTRAP_ADMIN_PASSWORD": self.admin_password(),
        }

    def command(self) -> list[str]:
        h2 = self.data_dir / "h2" / "keycloakdb"
        return [
            str(self.home / "bin" / "kc.sh"), "start-dev",
            "--http-host=127.0.0.1",
            f"--http-port={self.port}",
            f"--http-management-port={self.management_port}",
            "--health-enabled=true",
            "--cache=local",
            "--hostname-strict=false",
            f"--db-url=jdbc:h2:file:{h2};NON_KEYWORDS=VALUE",
        ]

    def healthy(self) -> bool:
        ready = requests.get(f"http://127.0.0.1:{self.management_port}/health/ready", timeout=2)
        return ready.status_code == 200

    def endpoints(self) -> dict[str, str]:
        return {
            "KEYCLOAK_URL": self.url,
            "KEYCLOAK_ADMIN_REALM": "master",
            "KEYCLOAK_ADMIN_USERNAME": "admin",
            "KEYCLOAK_ADMIN_PASSWORD": self.admin_password(),
        }
