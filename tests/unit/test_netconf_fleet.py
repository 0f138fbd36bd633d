"""Real NETCONF over real SSH: a small fleet on 127.0.0.1 and the client the nodes use."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncssh
import pytest

from labkit.devices import USER
from labkit.devices.fleet import Fleet
from labkit.devices.netconf import NetconfClient, RpcError
from tests.free_ports import HOST, free_ports

SECRET = "s3cret-for-tests"


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, asyncssh.SSHKey]:
    key = asyncssh.generate_private_key("ssh-ed25519")
    path = tmp_path / "host_key"
    key.write_private_key(str(path))
    return path, key.convert_to_public()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


async def with_fleet(tmp_path, keys, body, indexes=(1, 2, 5), latency_ms=0):
    base = free_ports(max(indexes))
    fleet = Fleet(HOST, base, list(indexes), latency_ms, keys[0], SECRET,
                  tmp_path / "control.sock")
    stop = asyncio.Event()
    task = asyncio.ensure_future(fleet.run(stop))
    while not (tmp_path / "control.sock").exists():
        await asyncio.sleep(0.02)

    async def connect(index: int, **kw) -> NetconfClient:
        opts = {"username": USER, "password": SECRET, "host_key": keys[1], **kw}
        return await NetconfClient.connect(HOST, base + index - 1, **opts)

    try:
        return await body(fleet, connect)
    finally:
        stop.set()
        await task


def test_hello_capabilities_and_both_framings(tmp_path, keys):
    async def body(fleet, connect):
        modern, legacy = await connect(1), await connect(5)
        assert "urn:ietf:params:netconf:base:1.1" in modern.server_capabilities
        assert modern.framing == "1.1" and legacy.framing == "1.0"
        assert modern.session_id == 1
        only_10 = await connect(2, versions=["urn:ietf:params:netconf:base:1.0"])
        assert only_10.framing == "1.0"
        confs = [await c.get_config() for c in (modern, legacy, only_10)]
        assert [c.findtext(".//{*}host-name") for c in confs] == ["dev0001", "dev0005",
                                                                   "dev0002"]
        for c in (modern, legacy, only_10):
            await c.close()
        return fleet.devices["dev0001"].rpcs["get-config"]
    assert run(with_fleet(tmp_path, keys, body)) == 1


def test_lock_edit_commit_and_a_second_session_is_locked_out(tmp_path, keys):
    async def body(fleet, connect):
        a, b = await connect(1), await connect(1)
        await a.lock()
        with pytest.raises(RpcError) as denied:
            await b.lock()
        assert denied.value.tag == "lock-denied"
        await a.edit_config("<configuration><system><host-name>edge7</host-name></system>"
                            "</configuration>")
        with pytest.raises(RpcError):
            await b.commit()  # the candidate is locked by a
        assert (await b.get_config()).findtext(".//{*}host-name") == "dev0001"  # not committed
        await a.commit()
        await a.unlock()
        assert (await b.get_config()).findtext(".//{*}host-name") == "edge7"
        await a.lock()
        await a.close()  # a lock ends with its session
        await asyncio.sleep(0.2)
        await b.lock()
        with pytest.raises(RpcError) as bad:
            await b.rpc("<frobnicate/>")
        assert bad.value.tag == "operation-not-supported"
        await b.close()
        return fleet.devices["dev0001"].commits
    assert run(with_fleet(tmp_path, keys, body)) == 1


def test_wrong_password_and_wrong_host_key_are_refused(tmp_path, keys):
    async def body(fleet, connect):
        with pytest.raises(asyncssh.PermissionDenied):
            await connect(1, password="wrong")
        stranger = asyncssh.generate_private_key("ssh-ed25519").convert_to_public()
        with pytest.raises(asyncssh.HostKeyNotVerifiable):
            await connect(1, host_key=stranger)
        return True
    assert run(with_fleet(tmp_path, keys, body))


def test_a_failed_device_drops_its_sessions_and_comes_back_by_itself(tmp_path, keys):
    async def body(fleet, connect):
        c = await connect(2)
        answer = await fleet.command({"op": "fail", "devices": ["dev0002"], "seconds": 0.5})
        assert answer == {"failed": ["dev0002"]}
        await asyncio.wait_for(c.wait_closed(), 5)
        with pytest.raises(OSError):
            await connect(2)
        state = (await fleet.command({"op": "state"}))["devices"]
        assert state["dev0002"]["up"] is False and state["dev0001"]["up"] is True
        for _ in range(100):  # comes back on its own after 0.5 s
            await asyncio.sleep(0.05)
            if fleet.devices["dev0002"].up:
                break
        again = await connect(2)
        assert (await again.get_config()).findtext(".//{*}host-name") == "dev0002"
        await again.close()
        await fleet.command({"op": "latency", "ms": 20})
        return (await fleet.command({"op": "state", "devices": ["dev0001"]}))["devices"]
    state = run(with_fleet(tmp_path, keys, body))
    assert state["dev0001"]["latency_ms"] == 20


def test_control_socket_rejects_nonsense(tmp_path, keys):
    async def body(fleet, connect):
        r, w = await asyncio.open_unix_connection(str(tmp_path / "control.sock"))
        w.write(b'{"op": "explode"}\nnot json\n')
        first, second = await r.readline(), await r.readline()
        w.close()
        return first, second
    first, second = run(with_fleet(tmp_path, keys, body))
    assert b"unknown control operation" in first and b"error" in second


def test_a_node_negotiates_the_cheap_cipher_and_the_fleet_still_takes_others(tmp_path, keys):
    """Nodes ask for AES-GCM (asyncssh's chacha20 costs two cipher contexts a packet); the
    fleet keeps every default for other clients (ncclient's paramiko, OpenSSH)."""
    async def body(fleet, connect):
        node = await connect(1)
        other = await asyncssh.connect(HOST, fleet.devices["dev0002"].port, username=USER,
                                       password=SECRET, known_hosts=([keys[1]], [], []),
                                       client_keys=None, agent_path=None, config=None,
                                       encryption_algs=["chacha20-poly1305@openssh.com"])
        ciphers = node.conn.get_extra_info("send_cipher"), other.get_extra_info("send_cipher")
        await node.close()
        other.close()
        return ciphers
    assert run(with_fleet(tmp_path, keys, body)) == ("aes128-gcm@openssh.com",
                                                     "chacha20-poly1305@openssh.com")
