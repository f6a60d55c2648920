"""The one parser of backend URLs: every stateful part is chosen by a URL read here.

``sqlite:///PATH`` (a file; ``sqlite:////abs/path`` or a relative path, ``~`` expanded),
``postgresql://…`` (or ``postgres://…``), ``redis://…`` / ``rediss://…`` (TLS) and
``memory://`` (in this process only). Each factory says which kinds it accepts, so a URL it
cannot use fails at start-up with a message naming the part and the kinds it takes.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from omnihub.errors import ConfigurationError

BackendKind = Literal["sqlite", "postgresql", "redis", "memory"]

# Scheme -> kind. ``postgres`` is libpq's accepted alias; ``rediss`` is Redis over TLS.
_KINDS: dict[str, BackendKind] = {
    "sqlite": "sqlite",
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "redis": "redis",
    "rediss": "redis",
    "memory": "memory",
}
_EXAMPLES: dict[BackendKind, str] = {
    "sqlite": "sqlite:///PATH",
    "postgresql": "postgresql://USER@HOST/DB",
    "redis": "redis://HOST:PORT (or rediss:// for TLS)",
    "memory": "memory://",
}


class UnsupportedBackendError(ConfigurationError):
    """A backend URL that is malformed or names a kind this part cannot use."""

    def __init__(self, message: str, *, url: str, allowed: tuple[BackendKind, ...]) -> None:
        super().__init__(message)
        self.url = url
        self.allowed = allowed


@dataclass(frozen=True)
class BackendURL:
    """A parsed backend URL.

    ``scheme`` is the URL's own scheme (``rediss`` stays ``rediss``); ``kind`` groups schemes
    by backend. ``path`` is the SQLite file (None for other kinds). ``url`` is the URL exactly
    as given, which is what PostgreSQL and Redis clients receive (a DSN is passed through
    unchanged so client options such as ``sslmode`` or cluster settings keep working).
    """

    kind: BackendKind
    scheme: str
    url: str
    path: Path | None = None

    @property
    def tls(self) -> bool:
        """True for ``rediss://`` and PostgreSQL URLs that ask for ``sslmode=require`` or
        stricter."""
        if self.scheme == "rediss":
            return True
        query = urlsplit(self.url).query
        return self.kind == "postgresql" and any(
            f"sslmode={mode}" in query for mode in ("require", "verify-ca", "verify-full")
        )

    @property
    def redacted(self) -> str:
        """The URL with any password replaced by ``***``: safe to log or show."""
        return redact_url(self.url)


def redact_url(url: str) -> str:
    """``url`` with the password of its user-info part (if any) replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


def parse_backend_url(
    url: str, *, allowed: Collection[str], purpose: str = "backend URL"
) -> BackendURL:
    """Parse ``url`` for ``purpose`` (e.g. "event store URL"), accepting only ``allowed`` kinds.

    Raises :class:`UnsupportedBackendError` (a ConfigurationError) naming the purpose and the
    URL forms it accepts.
    """
    kinds = tuple(k for k in _KINDS.values() if k in allowed)
    kinds = tuple(dict.fromkeys(kinds))
    forms = " or ".join(_EXAMPLES[k] for k in kinds)

    def fail(reason: str) -> UnsupportedBackendError:
        return UnsupportedBackendError(
            f"{purpose} {redact_url(url)!r} {reason}; use {forms}", url=url, allowed=kinds
        )

    scheme, sep, rest = url.partition("://")
    if not sep:
        raise fail("has no scheme")
    scheme = scheme.lower()
    kind = _KINDS.get(scheme)
    if kind is None or kind not in kinds:
        raise fail(f"names an unsupported backend {scheme!r}")
    if kind == "sqlite":
        # sqlite:///relative or sqlite:////absolute: the host part must be empty.
        if not rest.startswith("/") or len(rest) == 1:
            raise fail("must give a file path")
        raw = rest[1:].split("?", 1)[0]
        if raw == ":memory:":
            raise fail("must name a file, not :memory:")
        return BackendURL(kind, scheme, url, Path(raw).expanduser())
    if kind == "memory":
        if rest not in ("", "/"):
            raise fail("takes no host or path")
        return BackendURL(kind, scheme, url)
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a non-numeric port
    except ValueError as exc:
        raise fail(f"is malformed ({exc})") from None
    if kind == "redis" and not parts.hostname:
        raise fail("needs a host")
    return BackendURL(kind, scheme, url)
