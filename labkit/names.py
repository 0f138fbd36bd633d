"""The names the lab gives things, each by one rule: nodes, devices, stored files.

A name ends up in paths, process names, SQL rows and URLs, so every place that accepts one checks
it against the rule here, and always with `fullmatch`: `re.match` with a trailing `$` lets
"node1\\n" through, because Python's `$` also matches before a final newline.

The `*_PATTERN` strings are for pydantic's `Field(pattern=...)` and FastAPI's `Path(pattern=...)`.
pydantic's default regex engine (Rust's `regex`) searches, so the patterns carry both anchors, and
there `$` is the very end of the text: "node1\\n" is refused (tests/unit/test_names.py checks it).
"""

from __future__ import annotations

import re

from labkit.errors import LabError

#: a node: 1-16 lower-case letters and digits, starting with a letter (node1, db2, lb)
NODE_NAME_PATTERN = r"^[a-z][a-z0-9]{0,15}$"
NODE_NAME = re.compile(NODE_NAME_PATTERN)
NODE_NAME_HINT = "use 1-16 lower-case letters and digits, starting with a letter (e.g. node1)"

#: a managed device: dev0001..dev9999 (the group is its number; dev0000 is no device)
DEVICE_NAME_PATTERN = r"^dev([0-9]{4})$"
DEVICE_NAME = re.compile(DEVICE_NAME_PATTERN)
DEVICE_NAME_HINT = "device names look like dev0001 (dev, then four digits, from 0001)"

#: a file in the Cassandra file store (device images): no slashes, no leading dot
FILE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
FILE_NAME = re.compile(FILE_NAME_PATTERN)
FILE_NAME_HINT = ("use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit "
                  "(no slashes)")


#: a lab: its name becomes a folder under LABKIT_HOME, so no slash and no leading dot ("..")
LAB_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$"
LAB_NAME = re.compile(LAB_NAME_PATTERN)
LAB_NAME_HINT = "use 1-48 letters, digits, '_' or '-', starting with a letter or digit"


def check_lab_name(name: object) -> str:
    """`name` if it names a lab; a LabError before it ever becomes a path."""
    if isinstance(name, str) and LAB_NAME.fullmatch(name):
        return name
    raise LabError(f"{name!r} is not a lab name", LAB_NAME_HINT)


def valid_node_name(name: object) -> bool:
    """Whether `name` is a node name (anything not a str is not)."""
    return isinstance(name, str) and NODE_NAME.fullmatch(name) is not None


def check_node_name(name: object) -> str:
    """`name` if it is a node name, else a LabError that says what one looks like."""
    if not valid_node_name(name):
        raise LabError(f"bad node name {name!r}", NODE_NAME_HINT)
    return name  # type: ignore[return-value]  # valid_node_name saw a str


def valid_device_name(name: object) -> bool:
    """Whether `name` is a device name: dev0001 and up (dev0000 numbers no device)."""
    if not isinstance(name, str):
        return False
    m = DEVICE_NAME.fullmatch(name)
    return m is not None and int(m.group(1)) >= 1


def check_device_name(name: object) -> str:
    """`name` if it is a device name, else a LabError that says what one looks like."""
    if not valid_device_name(name):
        raise LabError(f"bad device name {name!r}", DEVICE_NAME_HINT)
    return name  # type: ignore[return-value]  # valid_device_name saw a str


def valid_file_name(name: object) -> bool:
    """Whether `name` may name a file in the file store."""
    return isinstance(name, str) and FILE_NAME.fullmatch(name) is not None
