"""The Zero to JupyterHub learner image (compose/singleuser.Dockerfile), proven without Kubernetes.

The chart's pod is reproduced with the engine's own limits: `--memory 2g --cpus 1` (what
classroom/z2jh-values.yaml asks for) and uid 1000, no network at all (`--network none`: the lab
must start from what the image holds, its traffic on the container's loopback). Everything is
checked from inside through `docker exec`: the entrypoint started the lab (binder/start with
binder/small.yml) and the notebook server, every process runs as the learner, the lab answers
through its VIP, and lesson 00 runs green under nbval. The container is removed in any case.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from labkit.backends.compose import images

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(not images.engine_answers(),
                       reason="no Docker engine answers (`make compose-setup` starts one)"),
]

UID = 1000
LESSONS = "/home/jovyan/lessons"
UP_LOG = "/home/jovyan/.local/state/labkit/up.log"  # binder/start writes the lab's start here
#: Inside the container: wait for the lab binder/start is starting, then ask through the VIP.
VIP_PROBE = """
import json
from labkit import Cluster
lab = Cluster.attach(wait=600, progress=lambda msg: None)
lab.wait_vip(timeout=120)
with lab.client() as vip:
    r = vip.get("/api/node")
print(json.dumps({"vip": lab.vip_url, "status": r.status_code, "node": r.json()}))
"""
JUPYTER_PROBE = """
import httpx, time
for _ in range(120):
    try:
        print(httpx.get("http://127.0.0.1:8888/api", timeout=2).json()["version"]); break
    except httpx.HTTPError:
        time.sleep(1)
"""


def run(container: Any, cmd: list[str]) -> tuple[int, str]:
    """A command inside the learner's container, as the learner."""
    result = container.exec_run(cmd, user=str(UID), workdir=LESSONS)
    return result.exit_code, result.output.decode(errors="replace")


@pytest.fixture(scope="module")
def learner() -> Iterator[Any]:
    """The image built (cached layers), one container of it as the chart would run it."""
    images.ensure_singleuser(lambda msg: None)
    engine = images.client()
    container = engine.containers.run(
        images.SINGLEUSER_IMAGE, detach=True, user=str(UID), mem_limit="2g",
        nano_cpus=10**9, network_mode="none", name=f"labkit-singleuser-test-{uuid.uuid4().hex[:8]}",
        labels={"labkit.test": "singleuser"})
    try:
        yield container
    finally:
        container.remove(force=True)


def test_the_lab_answers_through_its_vip_inside_the_learners_container(learner):
    code, out = run(learner, ["python", "-c", VIP_PROBE])
    assert code == 0, out + "\nup.log:\n" + run(learner, ["cat", UP_LOG])[1]
    answer = json.loads(out.strip().splitlines()[-1])
    assert answer["status"] == 200, answer
    code, status = run(learner, ["labkit", "status"])
    assert code == 0, status


def test_the_entrypoint_started_the_notebook_server(learner):
    code, out = run(learner, ["python", "-c", JUPYTER_PROBE])
    assert code == 0 and out.strip(), out


def test_no_process_of_the_container_runs_as_root(learner):
    code, out = run(learner, ["ps", "-eo", "uid=,comm="])
    assert code == 0, out
    owners = {line.split()[0] for line in out.splitlines() if line.strip()}
    assert owners == {str(UID)}, out


def test_lesson_00_runs_green_under_nbval_inside_the_container(learner):
    run(learner, ["python", "-c", "from labkit import Cluster; Cluster.attach(wait=600)"])
    code, out = run(learner, ["timeout", "600", "python", "-m", "pytest", "--nbval-lax", "-q",
                              "-p", "no:cacheprovider", f"{LESSONS}/00_tour.ipynb"])
    assert code == 0, out[-6000:]
