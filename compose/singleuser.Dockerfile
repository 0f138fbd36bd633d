# The learner's image for Zero to JupyterHub (classroom/z2jh-values.yaml): one learner's lab and
# JupyterLab in one container, as on Binder. Built by `make singleuser-image`
# (labkit/backends/compose/images.py: build_singleuser), after the node image it starts FROM.
#
# The node image already holds every server the lab runs (Debian packages, from the same Debian
# base as the compose lab); this adds what a learner's session needs on top: the lock's Python
# pins with JupyterHub's `jupyterhub-singleuser`, Cassandra's jars, a non-root `jovyan` (uid
# 1000, as the Helm chart runs it) and an entrypoint that starts the lab in the background
# (binder/start, the small topology for a 2 GiB pod) then the notebook server.
# The lab is the local backend as on Binder: no root, no network namespaces, loopback only.
FROM labkit-node:latest

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
ENV LABKIT_CASSANDRA_LIB=/opt/labkit/cassandra/lib
COPY labkit/cassandra/pom.xml /tmp/cassandra-pom.xml
RUN python -m labkit.cassandra.jars && rm -rf /root/.m2 /tmp/cassandra-pom.xml

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
