"""The simulated devices driven as a network engineer drives a Junos router: with ncclient.

Only the device fleet runs (three devices on 127.0.0.1, in a thread of this process), no lab.
ncclient is a real NETCONF client (paramiko for SSH, lxml for XML): each test uses it twice,
with its default handler and with its Junos handler (`device_params={"name": "junos"}`), which
sends Junos' own RPCs and strips namespaces from the replies. dev0005 is an older release that
speaks only NETCONF 1.0 framing.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import pytest
from lxml import etree
from ncclient import manager
from ncclient.operations.rpc import RPCError
from ncclient.xml_ import NCElement, to_ele

from labkit.devices import USER
from labkit.devices.fleet import Fleet
from tests.free_ports import HOST, free_ports

SECRET = "s3cret-for-ncclient"
HANDLERS = {"default": None, "junos": {"name": "junos"}}
CONF = "http://xml.juniper.net/xnm/1.1/xnm"
EDIT = ("<config><configuration><system><host-name>{name}</host-name></system><interfaces>"
        "<interface><name>ge-0/0/7</name><description>{desc}</description></interface>"
        "</interfaces></configuration></config>")


@dataclass
class RunningFleet:
    fleet: Fleet
    base: int
    host_key: str  # the public key, base64, as ncclient's hostkey_b64 takes it
    loop: asyncio.AbstractEventLoop

    def port(self, index: int) -> int:
        return self.base + index - 1

    def device(self, index: int):
        return self.fleet.devices[f"dev{index:04d}"]


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[RunningFleet]:
    """dev0001, dev0002 and dev0005 serving NETCONF over SSH on loopback, in a thread."""
    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(str(tmp_path / "host_key"))
    b64 = key.export_public_key("openssh").split()[1].decode()
    base = free_ports(5)
    control = tmp_path / "control.sock"
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    fleet = Fleet(HOST, base, [1, 2, 5], 0, tmp_path / "host_key", SECRET, control)

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(fleet.run(stop))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    for _ in range(500):
        if control.exists():
            break
        thread.join(0.02)
    assert control.exists(), "the fleet did not start"
    try:
        yield RunningFleet(fleet, base, b64, loop)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.close()


@contextlib.contextmanager
def connect(f: RunningFleet, index: int = 1, handler: str = "default", **kw):
    """An ncclient session that checks the device's host key, as it should."""
    m = manager.connect(host=HOST, port=f.port(index), username=USER, password=SECRET,
                        hostkey_b64=f.host_key, allow_agent=False, look_for_keys=False,
                        device_params=HANDLERS[handler], timeout=30, **kw)
    try:
        yield m
    finally:
        if m.connected:
            m.close_session()


def rpc(m, handler: str, xml: str):
    """A Junos RPC: the Junos handler's `rpc`, the default handler's `dispatch`."""
    return m.rpc(xml) if handler == "junos" else m.dispatch(to_ele(xml))


def commit_configuration(m, handler: str, check: bool = False, log: str | None = None):
    """Junos' <commit-configuration>: what the Junos handler's `commit` sends, or by hand."""
    if handler == "junos":
        return m.commit(check=check, comment=log)
    body = ("<check/>" if check else "") + (f"<log>{log}</log>" if log else "")
    return rpc(m, handler, f"<commit-configuration>{body}</commit-configuration>")


def tree(reply):
    """The reply as lxml elements: the Junos handler hands back an NCElement (namespaces
    stripped), the default handler an RPCReply (its raw XML)."""
    return reply if isinstance(reply, NCElement) else etree.fromstring(reply.xml.encode())


def ok(reply) -> bool:
    """Success: no <rpc-error> (ncclient raises those) and, unless Junos answered with an
    empty reply (lock-configuration), an <ok/>."""
    return not tree(reply).xpath("//*[local-name()='rpc-error']")


def first(reply, name: str):
    """The first element called `name` in a reply, whatever its namespace."""
    found = tree(reply).xpath(f"//*[local-name()='{name}']")
    assert found, f"no <{name}> in the reply"
    return found[0]


def text(reply, name: str) -> str:
    return (first(reply, name).text or "").strip()


@pytest.fixture(params=sorted(HANDLERS))
def handler(request) -> str:
    return request.param


def test_hello_advertises_junos_and_both_framings(fleet, handler):
    with connect(fleet, 1, handler) as m, connect(fleet, 5, handler) as legacy:
        caps = set(m.server_capabilities)
        assert {"urn:ietf:params:netconf:base:1.0", "urn:ietf:params:netconf:base:1.1",
                "urn:ietf:params:netconf:capability:candidate:1.0",
                "urn:ietf:params:netconf:capability:validate:1.0",
                "http://xml.juniper.net/netconf/junos/1.0"} <= caps
        assert ":candidate" in m.server_capabilities and ":confirmed-commit" not in caps
        assert "urn:ietf:params:netconf:base:1.1" not in set(legacy.server_capabilities)
        assert m.session_id == "1" and legacy.session_id == "1"
        assert text(m.get_config("running"), "host-name") == "dev0001"
        assert text(legacy.get_config("running"), "host-name") == "dev0005"


def test_get_config_with_a_subtree_filter(fleet, handler):
    with connect(fleet, 2, handler) as m:
        whole = m.get_config("running")
        conf = first(whole, "configuration")
        assert {c.tag.rpartition("}")[2] for c in conf} >= {"system", "interfaces", "protocols"}
        assert any(k.endswith("commit-localtime") for k in conf.attrib)
        one = m.get_config("running", filter=("subtree", (
            "<configuration><interfaces><interface><name>ge-0/0/1</name></interface>"
            "</interfaces></configuration>")))
        picked = first(one, "configuration")
        names = picked.xpath("*[local-name()='interfaces']/*[local-name()='interface']"
                             "/*[local-name()='name']/text()")
        assert names == ["ge-0/0/1"] and text(one, "description") == "uplink 1"
        assert text(one, "mtu") == "9192"  # the whole entry, not only its name
        assert [c.tag.rpartition("}")[2] for c in picked] == ["interfaces"]


def test_lock_edit_commit_unlock_and_another_session_is_refused(fleet, handler):
    dev = fleet.device(1)
    with connect(fleet, 1, handler) as a, connect(fleet, 1, handler) as b:
        assert ok(a.lock("candidate"))
        with pytest.raises(RPCError) as denied:
            b.lock("candidate")
        assert denied.value.tag == "lock-denied" and denied.value.type == "protocol"
        assert denied.value.severity == "error" and "<session-id>" in denied.value.info
        assert ok(a.edit_config(target="candidate", config=EDIT.format(name="edge7",
                                                                       desc="to core")))
        with pytest.raises(RPCError) as busy:
            b.edit_config(target="candidate", config=EDIT.format(name="x", desc="y"))
        assert busy.value.tag == "in-use"
        assert text(a.get_config("candidate"), "host-name") == "edge7"
        assert text(b.get_config("running"), "host-name") == "dev0001"  # not committed yet
        assert ok(a.validate("candidate"))
        assert ok(a.commit())  # <commit/>; the Junos handler sends <commit-configuration/>
        assert ok(a.unlock("candidate"))
        assert text(b.get_config("running"), "host-name") == "edge7"
        assert ok(b.lock("candidate"))  # free again
        assert ok(b.unlock("candidate"))
    assert dev.commits == 1 and not dev.locks and not dev.sessions


def test_commit_configuration_the_junos_way(fleet, handler):
    """What issue 17 found refused: lock, edit, then Junos' own <commit-configuration>."""
    dev = fleet.device(2)
    with connect(fleet, 2, handler) as m:
        m.lock("candidate")
        m.edit_config(target="candidate", config=EDIT.format(name="agg2", desc="to agg"))
        first(commit_configuration(m, handler, check=True), "commit-check-success")
        assert dev.commits == 0
        done = commit_configuration(m, handler, log="ncclient test")
        assert text(done, "name") == "re0"
        first(done, "commit-success")
        m.unlock("candidate")
        assert text(m.get_config("running"), "host-name") == "agg2"
    assert dev.commits == 1 and dev.history[-1]["log"] == "ncclient test"


def test_junos_operational_rpcs(fleet, handler):
    with connect(fleet, 5, handler) as m:
        soft = rpc(m, handler, "<get-software-information/>")
        assert text(soft, "product-model") == "mx204"
        assert text(soft, "junos-version") == text(soft, "junos-version").strip() != ""
        assert text(soft, "host-name") == "dev0005"
        system = rpc(m, handler, "<get-system-information/>")
        assert text(system, "hardware-model") == "mx204"
        assert text(system, "os-name") == "junos" and len(text(system, "serial-number")) == 12
        conf = rpc(m, handler, "<get-configuration database='committed'><configuration>"
                               "<system><host-name/></system></configuration>"
                               "</get-configuration>")
        assert text(conf, "host-name") == "dev0005"
        assert [e.tag.rpartition("}")[2] for e in first(conf, "configuration").iter()] == [
            "configuration", "system", "host-name"]
        assert ok(rpc(m, handler, "<lock-configuration/>"))
        assert ok(rpc(m, handler, "<unlock-configuration/>"))
        if handler == "junos":  # what the Junos handler adds on top of rpc
            assert text(m.command("show version"), "product-model") == "mx204"
            assert text(m.get_software_information(), "host-name") == "dev0005"
            assert text(m.get_configuration(), "host-name") == "dev0005"


def test_refusals_are_rpc_errors_and_the_session_goes_on(fleet, handler):
    dev = fleet.device(1)
    with connect(fleet, 1, handler) as m:
        with pytest.raises(RPCError) as unknown:
            rpc(m, handler, "<get-frobnication-information/>")
        assert unknown.value.tag == "operation-not-supported"
        assert unknown.value.type == "protocol" and unknown.value.severity == "error"
        assert "get-frobnication-information" in unknown.value.info  # <bad-element>
        with pytest.raises(RPCError) as bad_op:
            m.edit_config(target="candidate", config=(
                '<config xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0"><configuration>'
                '<system nc:operation="frobnicate"><host-name>x</host-name></system>'
                "</configuration></config>"))
        assert bad_op.value.tag == "bad-attribute"
        with pytest.raises(RPCError) as no_conf:
            m.edit_config(target="candidate", config="<config><system/></config>")
        assert no_conf.value.tag == "missing-element"
        with pytest.raises(RPCError) as half:  # the first change is fine, the second is not
            m.edit_config(target="candidate", config=(
                '<config xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0"><configuration>'
                "<system><host-name>half</host-name></system><interfaces><interface "
                'nc:operation="delete"><name>ge-9/9/9</name></interface></interfaces>'
                "</configuration></config>"))
        assert half.value.tag == "data-missing"
        with pytest.raises(RPCError) as running:
            m.edit_config(target="running", config=EDIT.format(name="x", desc="y"))
        assert running.value.tag == "operation-not-supported"
        with pytest.raises(RPCError) as timed:
            rpc(m, handler, "<commit-configuration><at-time>23:00</at-time>"
                            "</commit-configuration>")
        assert timed.value.tag == "operation-not-supported"
        # still usable, and no refused edit reached the candidate
        assert text(m.get_config("candidate"), "host-name") == "dev0001"
        first(rpc(m, handler, "<commit-configuration/>"), "commit-success")
    assert dev.commits == 1 and dev.running.findtext("system/host-name") == "dev0001"


def test_uncommitted_changes_go_with_the_lock_holder(fleet, handler):
    """Junos: a session that ends (or unlocks) before committing loses its changes."""
    dev = fleet.device(1)
    with connect(fleet, 1, handler) as a:
        a.lock("candidate")
        a.edit_config(target="candidate", config=EDIT.format(name="gone", desc="gone"))
    with connect(fleet, 1, handler) as b:
        assert text(b.get_config("candidate"), "host-name") == "dev0001"
        b.edit_config(target="candidate", config=EDIT.format(name="open", desc="unlocked"))
        with connect(fleet, 1, handler) as c:
            with pytest.raises(RPCError) as modified:
                c.lock("candidate")
            assert modified.value.tag == "lock-denied"
            assert "modified" in modified.value.message
        b.discard_changes()
    assert dev.commits == 0 and dev.candidate.findtext("system/host-name") == "dev0001"
