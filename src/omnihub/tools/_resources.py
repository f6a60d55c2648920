"""What the built-in tools act on, built once per worker from the settings."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from omnihub.config import Settings
from omnihub.crypto import load_key_ring
from omnihub.tools._http import Resolver
from omnihub.tools._ledger import IdempotencyLedger
from omnihub.tools._sql import SqlDatabase, open_database


@dataclass(frozen=True)
class SmtpConfig:
    """Where send_email delivers."""

    host: str = "127.0.0.1"
    port: int = 25
    sender: str = "omnihub@localhost"
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout_s: float = 10.0


@dataclass
class ToolResources:
    """The databases, ledger and endpoints tools use. ``ledger`` lives in the store's database;
    ``database`` is where the database_* tools act (the same database by default).

    ``key_secret`` keys the opaque idempotency keys sent to third parties; every worker must
    share it (``from_settings`` derives it from the codec key ring), or a step retried on
    another worker reaches the receiver under a new key. ``http_resolver`` replaces DNS
    resolution (tests pass a stub in).
    """

    ledger: IdempotencyLedger
    database: SqlDatabase
    allowed_tables: frozenset[str] = frozenset()
    http_allowed_hosts: frozenset[str] = frozenset()
    http_timeout_s: float = 10.0
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    key_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    http_resolver: Resolver | None = None

    @property
    def database_ledger(self) -> IdempotencyLedger:
        """The ledger beside the target tables, so an effect and its row share a transaction."""
        if self.database is self.ledger.database:
            return self.ledger
        return IdempotencyLedger(self.database)

    @classmethod
    def from_settings(cls, settings: Settings) -> ToolResources:
        store_url = settings.resolved_event_store_url
        tools_url = settings.resolved_tools_database_url
        ledger_db = open_database(store_url)
        database = ledger_db if tools_url == store_url else open_database(tools_url)
        key_secret = load_key_ring(settings).derive("omnihub idempotency keys")
        return cls(
            key_secret=key_secret,
            ledger=IdempotencyLedger(ledger_db),
            database=database,
            allowed_tables=frozenset(settings.tools_allowed_tables),
            http_allowed_hosts=frozenset(h.lower() for h in settings.http_allowed_hosts),
            http_timeout_s=settings.http_timeout_s,
            smtp=SmtpConfig(
                host=settings.smtp_host,
                port=settings.smtp_port,
                sender=settings.smtp_from,
                username=settings.smtp_username,
                password=(
                    settings.smtp_password.get_secret_value() if settings.smtp_password else None
                ),
                starttls=settings.smtp_starttls,
            ),
        )

    def close(self) -> None:
        if self.database is not self.ledger.database:
            self.database.close()
        self.ledger.database.close()
