"""The device-image file store: a real Apache Cassandra ring and the files kept in it.

`jars` fetches Cassandra from Maven Central, `config` renders one node's files, `launch` starts
the JVM under the node's supervisor, `client` opens driver sessions, `store` keeps files as
checksummed blobs, `ring` reports the ring, `commands` is `labkit files`.
"""
