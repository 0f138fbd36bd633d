# The learner's image for Zero to JupyterHub (classroom/z2jh-values.yaml): one learner's lab and
# JupyterLab in one container, as on Binder. Built by `make singleuser-image`
# (labkit/backends/compose/images.py: build_singleuser), after the node image.
#
# Its first steps are the node image's own, instruction for instruction, so the build takes them
# from the node image's cache (same Debian base, same servers, same Python packages, stored once)
# while a change to labkit's source rebuilds only the last steps of each image
# (tests/unit/test_singleuser_files.py checks they stay the same). On top, what a learner
# needs: the lock's Python pins with JupyterHub's `jupyterhub-singleuser`, Cassandra's jars, a
# non-root `jovyan` (uid 1000, as the Helm chart runs it) and an entrypoint that starts the lab
# in the background (binder/start, the small topology for a 2 GiB pod), then the notebook server.
# The lab is the local backend as on Binder: no root, no network namespaces, loopback only.
# ---- the node image's steps (compose/node.Dockerfile), unchanged ----
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

# ---- the node image's steps end here; the learner's image from here on ----

# tini as PID 1: the lab's servers outlive the shell that started them and must be reaped.
RUN apt-get update -q && apt-get install -y -q --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/*

# Python packages at the lock's pins: labkit's dependencies and notebook extra (what Binder gets,
# binder/requirements.txt), JupyterHub for `jupyterhub-singleuser`, nbval to check lessons.
COPY requirements.lock binder/requirements.txt /tmp/singleuser/
RUN pip install -q -r /tmp/singleuser/requirements.txt -c /tmp/singleuser/requirements.lock \
      jupyterhub nbval pytest \
    && rm -rf /tmp/singleuser

# Apache Cassandra's jars, fetched once at build time (starting a session downloads nothing);
# keyed on the pom, outside the home folder the chart may mount a volume over.
# Only the modules that fetch them are copied here, so a change elsewhere in labkit keeps them.
ENV LABKIT_CASSANDRA_LIB=/opt/labkit/cassandra/lib
COPY labkit/errors.py /tmp/jars/labkit/errors.py
COPY labkit/cassandra/__init__.py labkit/cassandra/jars.py labkit/cassandra/pom.xml \
     /tmp/jars/labkit/cassandra/
RUN touch /tmp/jars/labkit/__init__.py && cd /tmp/jars && python -m labkit.cassandra.jars \
    && rm -rf /tmp/jars /root/.m2

# The learner: uid 1000 as the chart's singleuser.uid, home /home/jovyan (the chart's volume).
RUN useradd --create-home --uid 1000 --shell /bin/bash jovyan

# labkit itself, last (editable, so binder/start and binder/small.yml sit beside it).
COPY README.md LICENSE pyproject.toml /srv/labkit/
COPY binder /srv/labkit/binder
COPY compose/singleuser-start /srv/labkit/compose/singleuser-start
COPY compose/singleuser_jupyter_config.py /etc/jupyter/jupyter_server_config.py
COPY notebooks /srv/labkit/notebooks
COPY labkit /srv/labkit/labkit
RUN pip install -q --no-deps --no-build-isolation -e /srv/labkit

USER 1000
ENV HOME=/home/jovyan USER=jovyan SHELL=/bin/bash \
    LABKIT_BINDER_TOPOLOGY=/srv/labkit/binder/small.yml
WORKDIR /home/jovyan
ENTRYPOINT ["tini", "-g", "--", "/srv/labkit/compose/singleuser-start"]
CMD []
