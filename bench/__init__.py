"""labkit's benchmarks: how fast the lab heals and how much it costs (`make bench`)."""
