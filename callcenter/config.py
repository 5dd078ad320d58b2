"""Service configuration: ``config/hotline.yaml`` validated once, at the edge.

Environment variables override the file for what differs per machine:
``DATABASE_URL``, ``ARI_URL``, ``ARI_USERNAME``, ``ARI_PASSWORD``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    ValidationError,
    field_validator,
)
from sqlalchemy.engine import make_url

from callcenter import safefiles
from callcenter.ari import AriSettings
from callcenter.errors import ConfigError
from callcenter.ivr.messages import Language
from callcenter.ivr.registry import IvrPaths
from callcenter.ratelimit import Guard, Policy
from callcenter.yamlfile import YamlDocument, format_error_line, load_yaml

DEFAULT_CONFIG = Path("config/hotline.yaml")
# The checkout this package runs from (an editable install: `make setup`).
PROJECT_CONFIG = Path(__file__).resolve().parent.parent / DEFAULT_CONFIG


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AriConfig(_Strict):
    url: str = "http://127.0.0.1:8088"
    app: str = "hotline"
    username: str = "hotline"
    password: str | None = None
    password_file: Path | None = None
    request_timeout: float = Field(10.0, gt=0)
    # Longest pause between reconnection attempts: the service is back within
    # about this long once Asterisk's ARI answers again (docs/restarts.md).
    reconnect_max_delay: float = Field(1.0, gt=0)

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")


class DatabaseConfig(_Strict):
    # No password in the committed URL: set-up generates the role's into
    # ``password_file`` (0600), read when the URL has none (a DATABASE_URL with
    # its own password is used as it is).
    url: str = "postgresql+asyncpg://hotline@127.0.0.1:5432/hotline"
    password_file: Path | None = None  # config/hotline.yaml: ../run/secrets/db-password

    def with_password(self) -> DatabaseConfig:
        """The URL with the password from ``password_file`` when it has none and
        the file can be read (before set-up, or for a user who may not read it,
        the URL stays as it is: ``callcenter db url`` says why)."""
        if self.password_file is None or make_url(self.url).password is not None:
            return self
        try:
            password = safefiles.read_text(self.password_file).strip()
        except (OSError, UnicodeDecodeError):
            return self
        if not password:
            return self
        url = make_url(self.url).set(password=password).render_as_string(hide_password=False)
        return self.model_copy(update={"url": url})

    @field_validator("url")
    @classmethod
    def _asyncpg(cls, v: str) -> str:
        if not v.startswith("postgresql+asyncpg://"):
            raise ValueError(
                "must be a SQLAlchemy URL with the asyncpg driver "
                "(postgresql+asyncpg://user:password@host:port/db)"
            )
        return v


class HttpConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    # The token the command line uses to ask the running service (written at start).
    service_token_file: Path = Path("../run/secrets/service-token")
    # Reverse proxies whose X-Forwarded-For names the client (rate limits, the
    # access log); none: the peer's address is the client, whatever it sends.
    trusted_proxies: tuple[IPvAnyNetwork, ...] = ()


class CallsConfig(_Strict):
    # On SIGTERM, calls in progress get this long to finish before being hung up.
    shutdown_grace_seconds: float = Field(30.0, ge=0)
    # Where calls are sent in the dialplan when the service cannot take them.
    fallback_context: str = "hotline-fallback"
    inbox_size: int = Field(1000, ge=10)
    # Calls served at once. Past it a caller hears busy_prompt and is hung up
    # (counted, logged); Asterisk's file-handle limit is sized from these two
    # numbers (scripts/render_asterisk_conf.py), so this cap is what guards it.
    max_calls: int = Field(2000, ge=1)
    busy_prompt: str = "overloaded"
    # Refused callers hearing busy_prompt at once; past it, or while the event
    # loop runs overload_lag_seconds late on average over the last seconds (the
    # service far behind; one pause does not count), new calls are turned away
    # unanswered at once (SIP 503, congestion).
    overload_prompt_slots: int = Field(200, ge=0)
    overload_lag_seconds: float = Field(1.0, gt=0)
    # Call records waiting out a database outage are kept here as well as in
    # memory, and replayed at the next start if the process dies meanwhile.
    record_spool: Path = Path("../run/spool/call-records.jsonl")
    # Transfers to department numbers leave through this endpoint ({number} is replaced).
    dialout_endpoint: str = "PJSIP/{number}@dialout-trunk"

    @field_validator("dialout_endpoint")
    @classmethod
    def _has_number(cls, v: str) -> str:
        if "{number}" not in v:
            raise ValueError("must contain {number}, e.g. PJSIP/{number}@dialout-trunk")
        return v


class IvrConfig(_Strict):
    """Where the IVR's files are; relative paths are relative to this config file."""

    flows_dir: Path = Path("../ivr_flows")
    prompts_dir: Path = Path("../ivr_flows/prompts")
    # The same prompts folder as Asterisk sees it.
    prompts_media_root: str = "/hotline/prompts"
    calendar: Path = Path("calendar.yaml")
    queues: Path = Path("queues.yaml")
    lookup_fixture: Path = Path("lookup_fixture.yaml")
    # The department directory: the only numbers transfers may dial.
    directory: Path = Path("directory.yaml")
    # The language of the flow validator's messages (`ivr validate`, a refused
    # reload) for ops staff; `callcenter ivr validate --lang` overrides it.
    messages_language: Language = "zh"

    def paths(self) -> IvrPaths:
        return IvrPaths(
            self.flows_dir,
            self.prompts_dir,
            self.calendar,
            self.queues,
            self.lookup_fixture,
            self.directory,
        )


class AcdConfig(_Strict):
    """Agents and seats; relative paths are relative to this config file."""

    roster: Path = Path("../agents/roster.yaml")
    seat_secrets: Path = Path("../run/secrets/seats.yaml")
    # Where the seats' pjsip sections are written for Asterisk to #include
    # (none: Asterisk's seats are managed elsewhere).
    seats_conf: Path | None = Path("../run/asterisk/etc/pjsip_agents.conf")
    seat_endpoint: str = "PJSIP/{seat}"
    # What ops staff hand to agents for their softphones.
    sip_server: str = "127.0.0.1:5060"


class LookupLimits(_Strict):
    """How often citizens' lookups (the public API, the IVR's) may be tried, per
    client (address, caller number) and per query code: a masked ticket shows
    four digits of the phone, so the rest must not be guessable by trying."""

    # Lookups a client may make a minute, right or wrong; more wait a minute.
    tries_per_minute: int = Field(30, ge=1)
    # Wrong lookups (wrong phone, unknown code) within the window lock the client ...
    client_failures: int = Field(20, ge=1)
    # ... and this many lock the query code for everyone, the right phone too.
    code_failures: int = Field(5, ge=1)
    failure_window_seconds: float = Field(600.0, gt=0)
    lock_seconds: float = Field(900.0, gt=0)
    # Clients and codes remembered at once; when all are live, new ones wait.
    max_tracked: int = Field(100_000, ge=100)

    def guard(self, clock: Callable[[], float] = time.monotonic) -> Guard:
        window, lock = self.failure_window_seconds, self.lock_seconds
        return Guard(
            tries=Policy(self.tries_per_minute, 60.0, 60.0),
            client_failures=Policy(self.client_failures, window, lock),
            target_failures=Policy(self.code_failures, window, lock),
            max_keys=self.max_tracked,
            clock=clock,
        )


class TicketsConfig(_Strict):
    """Work orders; relative paths are relative to this config file."""

    # Time limits per nature and stage.
    deadlines: Path = Path("deadlines.yaml")
    # Departments and the category catalogue.
    catalogue: Path = Path("catalogue.yaml")
    # How often the 督办 rules are evaluated over every open ticket (and voicemail
    # messages whose ticket could not be written are given one).
    supervision_sweep_seconds: float = Field(60.0, gt=0)
    # A 回访 is due this many working days after the ticket is handled.
    callback_working_days: int = Field(2, ge=0, le=30)
    # Rate limits and locks of the citizens' lookups.
    public_lookup: LookupLimits = LookupLimits()
    # An export larger than this is refused (422): narrow the filters.
    export_max_rows: int = Field(100_000, ge=1)


class AuditConfig(_Strict):
    """The access log of personal-data reads."""

    # An access-log export larger than this is refused (422): a shorter period.
    export_max_rows: int = Field(1_000_000, ge=1)


class LoggingConfig(_Strict):
    # `serve` writes one JSON object a line (call_id, channel, agent, request_id
    # when known: see callcenter/logs.py); text: the classic line, for a terminal.
    format: Literal["json", "text"] = "json"


class Settings(_Strict):
    ari: AriConfig = AriConfig()
    database: DatabaseConfig = DatabaseConfig()
    http: HttpConfig = HttpConfig()
    calls: CallsConfig = CallsConfig()
    ivr: IvrConfig = IvrConfig()
    acd: AcdConfig = AcdConfig()
    tickets: TicketsConfig = TicketsConfig()
    audit: AuditConfig = AuditConfig()
    log_level: str = "INFO"
    logging: LoggingConfig = LoggingConfig()

    def ari_settings(self) -> AriSettings:
        password = self.ari.password
        if password is None and self.ari.password_file is not None:
            try:
                password = self.ari.password_file.read_text().strip()
            except OSError as exc:
                raise ConfigError(
                    f"ari.password_file {self.ari.password_file}: {exc.strerror} "
                    "(run `make setup` to generate the ARI credentials)"
                ) from exc
        if not password:
            raise ConfigError("ari.password or ari.password_file (or ARI_PASSWORD) is required")
        return AriSettings(
            url=self.ari.url,
            username=self.ari.username,
            password=password,
            app=self.ari.app,
            request_timeout=self.ari.request_timeout,
            reconnect_max_delay=self.ari.reconnect_max_delay,
        )


_ENV_OVERRIDES: dict[str, tuple[str, str]] = {
    "DATABASE_URL": ("database", "url"),
    "ARI_URL": ("ari", "url"),
    "ARI_USERNAME": ("ari", "username"),
    "ARI_PASSWORD": ("ari", "password"),
    "HOTLINE_HTTP_PORT": ("http", "port"),
}


def find_config(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """The configuration file to read: ``path`` (``--config``), else $HOTLINE_CONFIG,
    else config/hotline.yaml of the project this package is installed from, else
    config/hotline.yaml in the current folder. Whatever the current folder is, the
    installed project's files are found, not a relative path that names nothing."""
    if path is not None:
        return path
    environ = os.environ if environ is None else environ
    if environ.get("HOTLINE_CONFIG"):
        return Path(environ["HOTLINE_CONFIG"])
    return PROJECT_CONFIG if PROJECT_CONFIG.exists() else Path.cwd() / DEFAULT_CONFIG


def load_settings(path: Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Read the YAML file (if it exists), apply env overrides, validate."""
    path = find_config(path, environ)
    environ = dict(os.environ) if environ is None else environ
    if path.exists():
        doc = load_yaml(path)
        data: Any = doc.data or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path}:1:1: expected a mapping at the top level")
    else:
        doc = YamlDocument(path=path, data={}, root=None)
        data = {}
    # An empty section (``database:`` with nothing under it) means "defaults".
    data = {
        k: (dict(v) if isinstance(v, dict) else {} if v is None else v) for k, v in data.items()
    }
    from_env: dict[tuple[str, str], str] = {}
    for var, (section, key) in _ENV_OVERRIDES.items():
        if environ.get(var) and isinstance(data.setdefault(section, {}), dict):
            data[section][key] = environ[var]
            from_env[(section, key)] = var
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_explain(doc, exc, from_env)) from exc
    settings = _relative_to(settings, path.parent)
    return settings.model_copy(update={"database": settings.database.with_password()})


def _relative_to(settings: Settings, base: Path) -> Settings:
    """Resolve every file path in the settings against the config file's folder."""
    update = {}
    for name in type(settings).model_fields:
        section = getattr(settings, name)
        if isinstance(section, BaseModel):
            paths = {
                field: base / value
                for field, value in section
                if isinstance(value, Path) and not value.is_absolute()
            }
            update[name] = section.model_copy(update=paths)
    return settings.model_copy(update=update)


def _explain(doc: YamlDocument, exc: ValidationError, from_env: dict[tuple[str, str], str]) -> str:
    """Name the environment variable for values that came from it, else file:line."""
    lines = []
    for err in exc.errors():
        loc = tuple(str(p) for p in err["loc"])
        var = from_env.get((loc[0], loc[1])) if len(loc) >= 2 else None
        if var is not None:
            lines.append(f"environment variable {var} ({'.'.join(loc)}): {err['msg']}")
        else:
            lines.append(format_error_line(doc, err))
    return "\n".join(lines)
