"""The data tier: MariaDB (the seed's MySQL) active/standby and a PostgreSQL pair.

`witness` records which instance of each pair is active (the lab's third vote); `mysql` and
`postgres` hold client helpers (connect to the active, read replication state); `mysql_watch`
and `pg_watch` are the per-node daemons that notice a dead active and promote the standby
(what they share is in `watcher`).
"""
