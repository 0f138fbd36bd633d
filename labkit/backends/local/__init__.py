"""The local backend: every node is a set of plain processes on its own loopback address.

`backend.LocalBackend` starts and breaks nodes; `segment` is the lab's LAN carrying the VIP;
`network` hands out a /24 per lab; `firewall` isolates nodes with nftables when run as root.
"""
