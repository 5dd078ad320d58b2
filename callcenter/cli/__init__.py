"""``callcenter`` command line: the ops staff's door, one module per command group
(entry point ``callcenter.cli:main``)."""

from __future__ import annotations

import click

from callcenter.cli.agents import agents
from callcenter.cli.configuration import config_group
from callcenter.cli.db import db
from callcenter.cli.ivr import ivr
from callcenter.cli.serve import serve
from callcenter.cli.users import users

__all__ = ["main"]


@click.group()
def main() -> None:
    """12345 government service hotline backend."""


for _command in (serve, db, config_group, ivr, agents, users):
    main.add_command(_command)
