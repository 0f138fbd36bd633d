# One image for every container of the compose lab: each node (its roles are chosen when it
# starts), the device fleet and JupyterLab. Built by `labkit up --backend compose` (or
# `make compose-setup`), or by `docker compose -f compose/docker-compose.yml up`.
#
# Layers go from what changes least to what changes most, so a rebuild redoes only what changed:
# Debian packages (keyed on system-packages.txt), Python packages (keyed on pyproject.toml), then
# labkit's own source.
#
# The FROM image is pulled from Docker Hub as usual; on a machine that cannot pull, labkit builds
# the same name from debootstrap and `docker import` (labkit/backends/compose/images.py).
FROM debian:bookworm-slim

# The Debian mirror the building machine's apt uses (passed by labkit); empty keeps the base's.
ARG DEBIAN_MIRROR=
ARG DEBIAN_SECURITY_MIRROR=
ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1
RUN if [ -n "$DEBIAN_MIRROR" ]; then \
      rm -f /etc/apt/sources.list.d/debian.sources; \
      printf 'deb %s bookworm main\ndeb %s bookworm-updates main\n' \
        "$DEBIAN_MIRROR" "$DEBIAN_MIRROR" > /etc/apt/sources.list; \
      if [ -n "$DEBIAN_SECURITY_MIRROR" ]; then \
        echo "deb $DEBIAN_SECURITY_MIRROR bookworm-security main" >> /etc/apt/sources.list; fi; \
    fi

# Every server the lab runs (system-packages.txt, first name of each "a|b", lines marked
# host-only left out), plus what only containers need: keepalived moves the VIP.
COPY system-packages.txt /tmp/system-packages.txt
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d \
    && pkgs=$(sed -e '/host-only/d' -e 's/#.*//' -e 's/|[^ ]*//' /tmp/system-packages.txt | xargs) \
    && apt-get update -q \
    && apt-get install -y -q --no-install-recommends $pkgs \
       keepalived iproute2 procps python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/*

# Python packages: labkit's dependencies and its notebook and compose extras, and the setuptools
# that pyproject's build-system asks for (77: SPDX license expressions).
RUN python3 -m venv /opt/labkit/venv
ENV PATH=/opt/labkit/venv/bin:$PATH
COPY pyproject.toml /opt/labkit/src/pyproject.toml
RUN python -c 'import tomllib; p = tomllib.load(open("/opt/labkit/src/pyproject.toml", "rb"))["project"]; \
print("\n".join(p["dependencies"] + p["optional-dependencies"]["notebook"] \
+ p["optional-dependencies"]["compose"]))' > /tmp/requirements.txt \
    && pip install -q -r /tmp/requirements.txt "setuptools>=77" wheel

# labkit itself, last (editable, so the compose file under /opt/labkit/src is found).
COPY README.md LICENSE /opt/labkit/src/
COPY compose /opt/labkit/src/compose
COPY notebooks /opt/labkit/src/notebooks
COPY labkit /opt/labkit/src/labkit
RUN pip install -q --no-deps --no-build-isolation -e /opt/labkit/src
WORKDIR /opt/labkit/src
ENTRYPOINT ["python", "-m", "labkit.backends.compose.node"]
CMD ["--help"]
