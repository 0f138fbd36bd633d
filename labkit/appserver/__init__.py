"""The node's application server: our Python stand-in for the seed's JBoss.

Every `app` node runs one (FastAPI on uvicorn) serving the REST NBI. The app factory in `app.py`
assembles the routers: the node/session basics here, and the routers each later tier adds
(databases, files, devices, jobs).
"""
