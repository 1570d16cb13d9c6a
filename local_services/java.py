"""Finding a JDK and fetching artifacts from Maven Central.

Keycloak 26 wants Java 21 or newer while the machine's default ``java`` may be
17, so the JDK is chosen per service by its major version instead of taking
whatever is on PATH.
"""
from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from .process import ServiceError

# Pinned so that every machine runs the same plugin (Maven 3.8's default is too old
# for -Dartifact on copy).
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"


@lru_cache(maxsize=None)
def java_major(java_home: str) -> int | None:
    java = Path(java_home, "bin", "java")
    if not java.is_file():
        return None
    try:
        out = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=30, check=False
        ).stderr
    except OSError:
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 else major  # "1.8" means 8


def candidate_homes() -> list[str]:
    homes = [os.environ.get("STOA_JAVA_HOME", ""), os.environ.get("JAVA_HOME", "")]
    homes += sorted(glob.glob("/usr/lib/jvm/*"), reverse=True)
    homes += sorted(glob.glob("/opt/java/*"), reverse=True)
    on_path = shutil.which("java")
    if on_path:
        homes.append(str(Path(on_path).resolve().parent.parent))
    seen, result = set(), []
    for home in homes:
        if home and home not in seen and Path(home).is_dir():
            seen.add(home)
            result.append(home)
    return result


def find_java_home(minimum: int, purpose: str) -> str:
    """The first JDK with at least ``minimum`` as major version (STOA_JAVA_HOME wins)."""
    found = []
    for home in candidate_homes():
        major = java_major(home)
        if major is not None:
            found.append(f"{home} (Java {major})")
            if major >= minimum:
                return home
    raise ServiceError(
        f"{purpose} needs Java {minimum} or newer; found: {', '.join(found) or 'no JDK'}. "
        f"Install one (e.g. apt-get install openjdk-{minimum}-jdk-headless) or point "
        f"STOA_JAVA_HOME at it."
    )


def mvn(*args: str, java_home: str | None = None) -> None:
    if not shutil.which("mvn"):
        raise ServiceError("Maven (mvn) is required to fetch Keycloak and Kafka: apt-get install maven")
    env = dict(os.environ)
    if java_home:
        env["JAVA_HOME"] = java_home
    proc = subprocess.run(["mvn", "-B", "-q", *args], capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise ServiceError(f"mvn {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
