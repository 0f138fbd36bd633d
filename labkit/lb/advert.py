"""Election adverts that only this lab's load balancers can send (the local backend's VRRP).

On loopback any local process can send a datagram to the lab's segment, so an advert that said
"node2, master, priority 255" used to move the VIP for whoever sent it. Each advert now carries
an HMAC-SHA256 under a key in the lab's secrets (private to the lab's user), and its time: the
segment and every VRRP daemon drop an advert whose MAC does not match, whose time is stale (a
replay), or whose source address is not the node it names. VRRPv2's own `auth_type PASS` was a
password in clear text and VRRPv3 dropped authentication altogether; this is closer to what
IPsec-AH gave VRRP.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from labkit.layout import Layout

#: how old an advert may be before it counts as a replay (adverts go out several times a second)
MAX_AGE = 5.0


def key(layout: Layout) -> bytes:
    """The lab's advert key. Labs set up before it existed derive one from their secrets."""
    secret = layout.secrets.get("vrrp_auth") or hashlib.sha256(
        ("vrrp_auth:" + layout.secrets["session_key"]).encode()).hexdigest()
    return secret.encode()


def _mac(k: bytes, body: bytes) -> str:
    return hmac.new(k, body, hashlib.sha256).hexdigest()


def sign(layout: Layout, advert: dict[str, Any]) -> bytes:
    body = json.dumps({**advert, "ts": time.time()}, sort_keys=True)
    return json.dumps({"advert": body, "mac": _mac(key(layout), body.encode())}).encode()


def verify(layout: Layout, data: bytes, now: float | None = None) -> dict[str, Any] | None:
    """The advert inside `data` if this lab signed it lately; None for anything else."""
    try:
        outer = json.loads(data)
        body, mac = str(outer["advert"]), str(outer["mac"])
        advert = json.loads(body)
        age = (time.time() if now is None else now) - float(advert["ts"])
    except (ValueError, KeyError, TypeError):
        return None
    if not hmac.compare_digest(mac, _mac(key(layout), body.encode())):
        return None
    if not -MAX_AGE < age < MAX_AGE:
        return None
    return advert
