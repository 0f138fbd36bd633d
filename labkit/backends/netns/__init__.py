"""The netns backend: every node its own network namespace on the lab's own bridge (as root, or
rootless: inside a user namespace its holder makes, reached from the host through its forwarder).

`backend.NetnsBackend` runs each node's supervisord inside the node's namespace (the local
backend's process trees, so crash and freeze are the same signals) with keepalived moving a real
VIP; `network` makes and removes the namespaces, the bridge and the isolation rules.
"""
