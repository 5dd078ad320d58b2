"""``callcenter ivr``: check the flows, simulate a call, have the service reload them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import click

from callcenter.cli.common import config_option, departments, load
from callcenter.cli.running import not_let_in, service_post
from callcenter.config import Settings
from callcenter.errors import ConfigError

if TYPE_CHECKING:
    from callcenter.ivr.flowset import FlowError


@click.group()
def ivr() -> None:
    """IVR flows: validate, simulate, reload."""


@ivr.command()
@config_option
@click.option(
    "--lang",
    type=click.Choice(["zh", "en"]),
    default=None,
    help="Language of the messages (default: ivr.messages_language, zh).",
)
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
def validate(config: Path | None, lang: str | None, paths: tuple[Path, ...]) -> None:
    """Check the flows in PATHS (default: the configured ivr_flows/) all together, as the
    service loads them: against the prompts beside them (PATHS[0]/prompts), the queues,
    the directory, the calendar and the lookup data. Warnings do not refuse the flows."""
    from callcenter.ivr import messages

    settings = load(config)
    language: messages.Language = settings.ivr.messages_language
    if lang in messages.LANGUAGES:
        language = "en" if lang == "en" else "zh"
    with messages.language(language):
        _validate(settings, paths)


def _validate(settings: Settings, paths: tuple[Path, ...]) -> None:
    from callcenter.ivr import messages
    from callcenter.ivr.flowset import FlowSetInvalid
    from callcenter.ivr.registry import load_runtime

    configured = settings.ivr.paths()
    ivr_paths = configured.with_flows(paths[0]) if paths else configured
    beside = configured.prompts_beside(paths[0]) if paths else None
    if beside is not None and ivr_paths.prompts_dir != beside:
        click.echo(
            messages.text("no_prompts_beside", flows=paths[0], prompts=configured.prompts_dir),
            err=True,
        )
    try:
        runtime = load_runtime(ivr_paths, departments=departments(settings), flows=paths)
    except FlowSetInvalid as exc:
        # The errors in their order (root causes first, what follows folded under
        # them); the warnings after them, by position.
        for error in [*exc.errors, *sorted(exc.warnings, key=_by_position)]:
            click.echo(str(error), err=True)
        raise click.ClickException(messages.text("refused", count=len(exc.errors))) from exc
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    flows = runtime.flows
    for warning in flows.warnings:
        click.echo(str(warning), err=True)
    click.echo(
        messages.text(
            "valid",
            count=len(flows.flows),
            version=flows.version,
            names=", ".join(sorted(flows.flows)),
        )
        + (messages.text("with_warnings", count=len(flows.warnings)) if flows.warnings else "")
    )


def _by_position(error: FlowError) -> tuple[str, int, int]:
    return (str(error.path), error.line, error.column)


@ivr.command()
@config_option
def reload(config: Path | None) -> None:
    """Ask the running service to load the flows again (calls in progress keep theirs)."""
    import json
    import urllib.error
    import urllib.request

    settings = load(config)
    request = service_post(settings, "/api/v1/ivr/reload")
    url = request.full_url
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            answer = json.load(r)
        for warning in answer.get("warnings", []):
            click.echo(warning, err=True)
        click.echo(f"reloaded: version {answer['version']}")
    except urllib.error.HTTPError as exc:
        not_let_in(exc, settings)
        body = json.loads(exc.read() or b"{}")
        for line in body.get("errors", [body.get("detail", str(exc))]):
            click.echo(line, err=True)
        raise click.ClickException(
            f"reload refused; still serving version {body.get('version', '?')}"
        ) from exc
    except OSError as exc:
        raise click.ClickException(f"cannot reach the service at {url}: {exc}") from exc


@ivr.command()
@config_option
@click.argument("flow")
@click.option("--digits", default="", help='Key groups, one per menu/collect: "2,1,1234#".')
@click.option("--at", "at_", default=None, help='Local time of the call, "2026-10-01 09:00".')
@click.option("--caller", default="13800000000", show_default=True)
@click.option(
    "--transfer",
    type=click.Choice(["connected", "no_answer", "failed"]),
    default="connected",
    show_default=True,
    help="What a transfer node meets.",
)
def simulate(
    config: Path | None, flow: str, digits: str, at_: str | None, caller: str, transfer: str
) -> None:
    """Run FLOW without Asterisk and print the path taken and the prompts heard."""
    from datetime import datetime

    from callcenter.ivr.port import TransferResult
    from callcenter.ivr.prompts import PromptLibrary
    from callcenter.ivr.registry import load_runtime
    from callcenter.ivr.simulator import simulate as run_simulation

    settings = load(config)
    try:
        runtime = load_runtime(settings.ivr.paths(), departments=departments(settings))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    if flow not in runtime.flows.flows:
        raise click.ClickException(
            f"no flow {flow!r}; flows: {', '.join(sorted(runtime.flows.flows))}"
        )
    try:
        moment = (
            runtime.calendar.local(datetime.fromisoformat(at_))
            if at_
            else datetime.now(runtime.calendar.zone)
        )
    except ValueError as exc:
        raise click.ClickException(f"--at {at_!r}: expected YYYY-MM-DD HH:MM") from exc
    prompts = PromptLibrary(settings.ivr.prompts_dir, settings.ivr.prompts_media_root)
    asyncio.run(
        run_simulation(
            runtime,
            flow,
            digits,
            at=moment,
            caller=caller,
            prompts=prompts,
            out=click.echo,
            transfer_result=TransferResult(transfer),
            guard=settings.tickets.public_lookup.guard(),
        )
    )
