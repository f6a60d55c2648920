"""What the built-in tools act on, built once per worker from the settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from omnihub.config import Settings
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
    ``database`` is where the database_* tools act (the same database by default)."""

    ledger: IdempotencyLedger
    database: SqlDatabase
    allowed_tables: frozenset[str] = frozenset()
    http_allowed_hosts: frozenset[str] = frozenset()
    http_timeout_s: float = 10.0
    smtp: SmtpConfig = field(default_factory=SmtpConfig)

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
        return cls(
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
