"""`make demo`'s story, twice: it completes with its summary, and the second run changes nothing."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_completes_and_a_second_run_changes_nothing(service_pool):
    for name in ("vault", "keycloak", "kafka", "gateway", "gateway-staging", "gateway-prod"):
        service_pool.require(name)  # started here are stopped at the end of the session
    demo = [str(Path(sys.executable).parent / "stoa-demo")]
    first = subprocess.run(demo, cwd=ROOT, capture_output=True, text=True, timeout=1200, check=False)
    assert first.returncode == 0, first.stdout[-5000:] + first.stderr[-2000:]
    for expected in ("demo-devops@cab-i.com    tenant_id=tenant-demo  roles=devops",
                     "demo-cpi@cab-i.com       tenant_id=tenant-demo  roles=tenant-admin",
                     "prod     petstore-api   1.0.0   active", "deployed   by awx@stoa.local",
                     # the webhook act: a push through stoa-receiver, both jobs successful, its trace shown
                     "GitLab push hook posted: HTTP 202", "(successful), GitLab -> receiver -> jobs:"):
        assert expected in first.stdout, expected
    second = subprocess.run(demo, cwd=ROOT, capture_output=True, text=True, timeout=1200, check=False)
    assert second.returncode == 0, second.stdout[-5000:]
    assert "Converging steps that changed something: none" in second.stdout, second.stdout[-3000:]
    assert "FAILED" not in second.stdout
