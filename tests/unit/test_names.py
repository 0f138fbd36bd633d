"""One rule per kind of name, always matched in full: "node1\n" is no node name anywhere."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field, ValidationError

from labkit import devices, names
from labkit.errors import LabError


@pytest.mark.parametrize("name", ["node1", "a", "lb2", "n" * 16])
def test_good_node_names(name):
    assert names.valid_node_name(name)
    assert names.check_node_name(name) == name


@pytest.mark.parametrize("name", ["", "node1\n", "\nnode1", "Node1", "1node", "node-1", "node 1",
                                  "n" * 17, None, 1])
def test_bad_node_names(name):
    assert not names.valid_node_name(name)
    with pytest.raises(LabError, match="bad node name") as err:
        names.check_node_name(name)
    assert "\n" not in err.value.message and err.value.hint == names.NODE_NAME_HINT


@pytest.mark.parametrize("name, good", [
    ("dev0001", True), ("dev9999", True), ("dev0000", False), ("dev0001\n", False),
    ("dev00001", False), ("dev001", False), ("Dev0001", False), (None, False),
])
def test_device_names(name, good):
    assert names.valid_device_name(name) is good
    if good:
        assert names.check_device_name(name) == name
    else:
        with pytest.raises(LabError, match="bad device name"):
            names.check_device_name(name)


def test_the_device_index_takes_the_same_rule():
    assert devices.NAME is names.DEVICE_NAME
    assert devices.device_index("dev0042") == 42
    with pytest.raises(LabError, match="bad device name"):
        devices.device_index("dev0001\n")  # re.match with "$" let this through


@pytest.mark.parametrize("name, good", [("image.tgz", True), ("a", True), ("x" * 128, True),
                                        ("x" * 129, False), (".hidden", False), ("a/b", False),
                                        ("image.tgz\n", False), ("", False)])
def test_file_names(name, good):
    assert names.valid_file_name(name) is good


@pytest.mark.parametrize("pattern, good, bad", [
    (names.NODE_NAME_PATTERN, "node1", "node1\n"),
    (names.DEVICE_NAME_PATTERN, "dev0001", "dev0001\n"),
    (names.FILE_NAME_PATTERN, "image.tgz", "image.tgz\n"),
])
def test_the_patterns_hold_in_pydantic_too(pattern, good, bad):
    """The patterns go to Field(pattern=...) / FastAPI's Path(pattern=...): pydantic's default
    engine (Rust regex) must refuse a trailing newline with them as they are written."""

    class Model(BaseModel):
        name: str = Field(pattern=pattern)

    assert Model(name=good).name == good
    with pytest.raises(ValidationError):
        Model(name=bad)


@pytest.mark.parametrize("bad", ["../etc", "..", ".hidden", "a/b", "lab\n", "", "x" * 49, 7])
def test_a_lab_name_is_checked_before_it_becomes_a_path(bad, tmp_path, monkeypatch):
    from labkit.layout import rundir_of
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    with pytest.raises(LabError, match="is not a lab name"):
        rundir_of(bad)
    assert list(tmp_path.iterdir()) == []


def test_good_lab_names_pass():
    for good in ("default", "pytest-netns", "Lab_2"):
        assert names.check_lab_name(good) == good
