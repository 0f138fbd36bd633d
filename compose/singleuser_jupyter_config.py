# The singleuser image's notebook server (compose/singleuser.Dockerfile): whichever command starts
# it (jupyterhub-singleuser from the hub, jupyter lab without one), its root is the learner's
# copy of the lessons that compose/singleuser-start made, not the folder binder/start runs in.
import os

c = get_config()  # noqa: F821 (Jupyter's config loader defines it)
c.ServerApp.root_dir = os.path.expanduser("~/lessons")
