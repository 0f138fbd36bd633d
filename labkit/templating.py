"""The one way labkit renders a server's configuration: a Jinja template kept beside its code.

A learner reads `labkit/lb/templates/httpd.conf.j2` to see what Apache runs with, not an f-string
spread through Python. Every component renders through `render`, which finds the template in the
`templates/` folder beside the calling module. StrictUndefined makes a value the code forgot to
pass an error at render time, never a silently empty setting in a server's config.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2


@cache
def _environment(folder: Path) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # config files, not HTML: a quote must stay a quote
    )


def template_dir(package_file: str) -> Path:
    """The `templates/` folder beside a module (pass the module's `__file__`)."""
    return Path(package_file).resolve().parent / "templates"


def render(package_file: str, name: str, /, **values: Any) -> str:
    """Render `templates/<name>` beside the module `package_file` with `values`; a name the
    template uses but `values` lacks raises jinja2.UndefinedError. (Positional-only, so a
    template may take values called `name` too.)"""
    return _environment(template_dir(package_file)).get_template(name).render(**values)
