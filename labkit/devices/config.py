"""A Junos-like device configuration and the edits NETCONF makes to it (pure XML, no I/O).

Each simulated device starts from a configuration generated from its number, shaped like what
`<get-config>` returns on a Junos router (system, interfaces, OSPF, routing options), so a resync
moves a realistic few kilobytes. `merge` applies an `<edit-config>` payload the way NETCONF's
default `merge` operation does, honouring the per-element `operation` attribute.
"""

from __future__ import annotations

import copy
import hashlib
import xml.etree.ElementTree as ET

NC_NS = "urn:ietf:params:xml:ns:netconf:base:1.0"
JUNOS_NS = "http://xml.juniper.net/xnm/1.1/xnm"
JUNOS_ATTRS = "http://xml.juniper.net/junos/21.4R0/junos"  # junos:commit-localtime and friends
ET.register_namespace("junos", JUNOS_ATTRS)
MODELS = ("mx204", "srx345", "ex4300-48t", "qfx5120-48y")
VERSION = "21.4R3-S5"


class EditError(ValueError):
    """An edit that NETCONF must refuse (rpc-error with this tag and message)."""

    def __init__(self, tag: str, message: str, kind: str = "application",
                 info: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.tag = tag
        self.kind = kind  # RFC 6241 error-type: protocol (the request) or application (data)
        self.info = info or {}


def model_of(index: int) -> str:
    return MODELS[(index - 1) % len(MODELS)]


def initial(name: str, index: int) -> ET.Element:
    """The factory configuration of device number `index` (1-based)."""
    hi, lo = divmod(index, 256)
    text = f"""
<configuration>
  <version>{VERSION}</version>
  <system>
    <host-name>{name}</host-name>
    <root-authentication><encrypted-password>$6$lab$not-a-real-hash</encrypted-password>
    </root-authentication>
    <login><user><name>labkit</name><uid>2000</uid><class>super-user</class></user></login>
    <services><ssh/><netconf><ssh/></netconf></services>
    <syslog><file><name>messages</name><contents><name>any</name><notice/></contents></file>
    </syslog>
    <ntp><server><name>10.255.0.1</name></server></ntp>
  </system>
  <interfaces>
    {"".join(_interface(i, hi, lo) for i in range(4))}
    <interface><name>lo0</name><unit><name>0</name><family><inet><address>
      <name>10.255.{hi}.{lo}/32</name></address></inet></family></unit></interface>
  </interfaces>
  <routing-options><router-id>10.255.{hi}.{lo}</router-id>
    <autonomous-system><as-number>{64512 + index % 1000}</as-number></autonomous-system>
  </routing-options>
  <protocols>
    <ospf><area><name>0.0.0.0</name>
      {"".join(f"<interface><name>ge-0/0/{i}.0</name></interface>" for i in range(4))}
      <interface><name>lo0.0</name><passive/></interface></area></ospf>
    <lldp><interface><name>all</name></interface></lldp>
  </protocols>
  <snmp><community><name>labkit-ro</name><authorization>read-only</authorization></community>
  </snmp>
</configuration>"""
    root = ET.fromstring(text)
    _strip_whitespace(root)
    return root


def _interface(i: int, hi: int, lo: int) -> str:
    return (f"<interface><name>ge-0/0/{i}</name><description>uplink {i}</description>"
            f"<mtu>9192</mtu><unit><name>0</name><family><inet><address>"
            f"<name>10.{i}.{hi}.{lo * 4 % 256 + 1}/30</name></address></inet></family></unit>"
            f"</interface>")


def _strip_whitespace(el: ET.Element) -> None:
    for node in el.iter():
        if node.text is not None and not node.text.strip():
            node.text = None
        if node.tail is not None and not node.tail.strip():
            node.tail = None


def local(tag: str) -> str:
    """`{namespace}name` → `name`."""
    return tag.rpartition("}")[2]


def unqualified(el: ET.Element) -> ET.Element:
    """A copy of `el` with every namespace dropped from tags (attributes keep theirs)."""
    out = copy.deepcopy(el)
    for node in out.iter():
        node.tag = local(node.tag)
    return out


def serialize(config: ET.Element, **attrs: str) -> bytes:
    """The configuration as Junos sends it: in its own namespace, with `junos:` attributes."""
    root = copy.deepcopy(config)
    root.set("xmlns", JUNOS_NS)
    for k, v in attrs.items():
        root.set(f"{{{JUNOS_ATTRS}}}{k}", v)
    return ET.tostring(root)


def digest(config: ET.Element) -> str:
    """A fingerprint of a configuration's content (what a resync stores)."""
    return hashlib.sha256(ET.tostring(config)).hexdigest()


def _operation(el: ET.Element) -> str | None:
    for key, value in el.attrib.items():
        if local(key) == "operation":
            return value
    return None


def _key(el: ET.Element) -> tuple[str, str | None]:
    """List entries are told apart by their <name> child, as Junos does."""
    name = el.find("name")
    return el.tag, (name.text if name is not None else None)


def _find(parent: ET.Element, el: ET.Element) -> ET.Element | None:
    key = _key(el)
    return next((c for c in parent if _key(c) == key), None)


def _clean(el: ET.Element) -> ET.Element:
    out = copy.deepcopy(el)
    for node in out.iter():
        for key in [k for k in node.attrib if local(k) == "operation"]:
            del node.attrib[key]
    return out


def merge(target: ET.Element, edit: ET.Element, default_operation: str = "merge") -> None:
    """Apply the children of `edit` to `target` in place (RFC 6241 §7.2 semantics, simplified)."""
    for child in edit:
        op = _operation(child) or default_operation
        if op not in ("merge", "replace", "create", "delete", "remove", "none"):
            raise EditError("bad-attribute", f"unknown operation {op!r}", "protocol",
                            {"bad-attribute": "operation", "bad-element": child.tag})
        found = _find(target, child)
        if op in ("delete", "remove"):
            if found is None:
                if op == "delete":
                    raise EditError("data-missing", f"nothing to delete at <{child.tag}>")
                continue
            target.remove(found)
        elif op == "none":
            if found is not None and len(child):
                merge(found, child, "none")
        elif op == "create" and found is not None:
            raise EditError("data-exists", f"<{child.tag}> already exists")
        elif op == "replace" or found is None or len(child) == 0:
            if found is not None:
                target.remove(found)
            target.append(_clean(child))
        else:
            merge(found, child, "merge")


def select(config: ET.Element, spec: ET.Element) -> ET.Element:
    """The part of `config` a subtree filter's `<configuration>` asks for (RFC 6241 §6).

    An empty element selects its whole subtree; an element with text matches entries whose child
    of that name has that text (`<interface><name>ge-0/0/1</name></interface>`, whole entry);
    an element with children descends. A spec that matches nothing gives an empty
    `<configuration/>`, as Junos answers a filter for a hierarchy that is not configured.
    """
    picked = _select(config, unqualified(spec))
    return picked if picked is not None else ET.Element(config.tag)


def _select(data: ET.Element, spec: ET.Element) -> ET.Element | None:
    if len(spec) == 0:
        return copy.deepcopy(data)  # a selection node: everything below
    matches = [c for c in spec if len(c) == 0 and (c.text or "").strip()]
    for m in matches:
        if not any(d.tag == m.tag and (d.text or "").strip() == m.text.strip() for d in data):
            return None
    inner = [c for c in spec if c not in matches]
    if not inner:
        return copy.deepcopy(data)  # content match only: the whole entry
    out = ET.Element(data.tag, data.attrib)
    out.extend(copy.deepcopy(d) for d in data if any(d.tag == m.tag for m in matches))
    keys = len(out)
    for s in inner:
        for d in data:
            if d.tag == s.tag and (found := _select(d, s)) is not None:
                out.append(found)
    return out if len(out) > keys else None  # a containment node that found nothing
