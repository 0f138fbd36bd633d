"""The Zero to JupyterHub files without an engine: the Helm values name the image, user and
topology the singleuser Dockerfile makes, the limits are the sizing rule of
docs/instructor-classroom.md, and everything the Dockerfile copies is in the build context."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from labkit.backends.compose import images

REPO = images.REPO
VALUES = REPO / "classroom" / "z2jh-values.yaml"


def copied_sources(dockerfile: str) -> list[str]:
    """The repository paths a Dockerfile's COPY lines take from the context (flags dropped)."""
    sources: list[str] = []
    for line in dockerfile.splitlines():
        words = line.split()
        if words[:1] == ["COPY"]:
            sources += [w for w in words[1:-1] if not w.startswith("--")]
    return sources


def left_out_of_context(sources: list[str], dockerignore: str) -> list[str]:
    """Which sources a `*`-then-exceptions .dockerignore keeps out of the build context."""
    kept = {line[1:].strip().rstrip("/") for line in dockerignore.splitlines()
            if line.startswith("!")}
    return [s for s in sources if Path(s).parts[0] not in kept and s not in kept]


def instructions(dockerfile: str) -> list[str]:
    """A Dockerfile's instructions, continuation lines joined, comments and blanks dropped (what
    the build cache keys on, with the files and build arguments)."""
    joined = re.sub(r"\\\n", " ", "\n".join(
        line for line in dockerfile.splitlines() if not line.lstrip().startswith("#")))
    return [" ".join(line.split()) for line in joined.splitlines() if line.strip()]


def shares_node_steps(singleuser: str, node: str) -> bool:
    """Whether the singleuser image starts with every node step before labkit's source."""
    node_steps = instructions(node)
    upto = next(i for i, step in enumerate(node_steps) if step.startswith("COPY README.md"))
    return instructions(singleuser)[:upto] == node_steps[:upto]


@pytest.fixture
def values() -> dict:
    return yaml.safe_load(VALUES.read_text())["singleuser"]


def test_every_copied_file_is_in_the_build_context():
    sources = copied_sources(images.SINGLEUSER_DOCKERFILE.read_text())
    assert "binder/requirements.txt" in sources and "requirements.lock" in sources
    assert left_out_of_context(sources, (REPO / ".dockerignore").read_text()) == []
    for source in sources:
        assert (REPO / source).exists(), source


def test_a_dockerignore_without_binder_is_caught():
    ignore = "*\n!labkit\n!notebooks\n!requirements.lock\n"
    assert left_out_of_context(["binder", "labkit", "requirements.lock"], ignore) == ["binder"]


def test_the_singleuser_image_starts_with_the_node_images_steps():
    node = images.DOCKERFILE.read_text()
    assert shares_node_steps(images.SINGLEUSER_DOCKERFILE.read_text(), node)


def test_a_singleuser_dockerfile_that_drifts_from_the_node_steps_is_caught():
    node = images.DOCKERFILE.read_text()
    drifted = images.SINGLEUSER_DOCKERFILE.read_text().replace("keepalived iproute2",
                                                               "iproute2 keepalived")
    assert not shares_node_steps(drifted, node)


def test_the_values_run_the_image_the_dockerfile_makes(values):
    name, _, tag = images.SINGLEUSER_IMAGE.partition(":")
    assert (values["image"]["name"], values["image"]["tag"]) == (name, tag)
    dockerfile = images.SINGLEUSER_DOCKERFILE.read_text()
    uid = re.search(r"useradd .*--uid (\d+) .*jovyan", dockerfile)
    assert uid and int(uid.group(1)) == values["uid"] == 1000
    assert re.search(rf"^USER {values['uid']}$", dockerfile, re.MULTILINE)
    topology = values["extraEnv"]["LABKIT_BINDER_TOPOLOGY"]
    assert topology == "/srv/labkit/binder/small.yml" and (REPO / "binder/small.yml").exists()
    assert f"LABKIT_BINDER_TOPOLOGY={topology}" in dockerfile
    assert values["cmd"] == "jupyterhub-singleuser"


def test_the_limits_are_the_classrooms_sizing_rule(values):
    # docs/instructor-classroom.md: 1.5 GiB and half a core per learner, 2G and one core as limit
    assert values["memory"] == {"limit": "2G", "guarantee": "1.5G"}
    assert values["cpu"] == {"limit": 1, "guarantee": 0.5}
    doc = (REPO / "docs" / "instructor-classroom.md").read_text()
    assert "1.5 GiB" in doc and "half a core" in doc and "LABKIT_CLASS_MEMORY=2G" in doc
