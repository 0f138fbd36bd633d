"""The VIP election between the two load-balancer nodes, after VRRP (RFC 5798).

`election` is the pure state machine (unit-tested with a fake clock); `daemon` runs it on a node,
sending and receiving adverts over UDP. The compose backend uses real keepalived instead.
"""
