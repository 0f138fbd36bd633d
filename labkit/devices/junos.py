"""What a Junos device answers beyond base NETCONF, in the shapes Junos 21.4 sends (no I/O).

The operational RPCs the lessons and the mediators call (`<get-software-information>`, what
`show version` prints; `<get-system-information>`), and `<commit-results>`, Junos' answer to
its own `<commit-configuration>`. `COMMANDS` maps the CLI commands a `<command>` RPC may carry
to the RPC Junos runs for them.
"""

from __future__ import annotations

import hashlib
from xml.sax.saxutils import escape

from labkit.devices.config import JUNOS_ATTRS, VERSION

#: `<command>show version</command>` runs `<get-software-information/>`, and so on
COMMANDS = {"show version": "get-software-information",
            "show system information": "get-system-information"}
#: the one Routing Engine of a small router or switch
ROUTING_ENGINE = "re0"


def serial_number(name: str) -> str:
    """A chassis serial number, stable per device (Juniper's are 12 letters and digits)."""
    return hashlib.sha256(name.encode()).hexdigest()[:12].upper()


def software_information(host_name: str, model: str) -> str:
    return (f"<software-information><host-name>{escape(host_name)}</host-name>"
            f"<product-model>{model}</product-model><product-name>{model}</product-name>"
            f"<junos-version>{VERSION}</junos-version><package-information><name>junos</name>"
            f"<comment>JUNOS OS Kernel 64-bit  [{VERSION}]</comment></package-information>"
            "</software-information>")


def system_information(host_name: str, model: str, serial: str) -> str:
    return (f"<system-information><hardware-model>{model}</hardware-model>"
            f"<os-name>junos</os-name><os-version>{VERSION}</os-version>"
            f"<serial-number>{serial}</serial-number><host-name>{escape(host_name)}</host-name>"
            "</system-information>")


def commit_results(check: bool = False) -> str:
    """Junos' answer to `<commit-configuration>`: one `<routing-engine>` that succeeded.

    `<commit-check-success/>` for `<check/>` (validated, nothing committed). There is no `<ok/>`
    beside it, as on Junos; ncclient's Junos handler rewrites any reply holding both
    `routing-engine` and `<ok/>` (a workaround for an old Junos bug) into XML it cannot parse.
    """
    outcome = "<commit-check-success/>" if check else "<commit-success/>"
    return (f'<commit-results xmlns:junos="{JUNOS_ATTRS}"><routing-engine junos:style="normal">'
            f"<name>{ROUTING_ENGINE}</name>{outcome}</routing-engine></commit-results>")
