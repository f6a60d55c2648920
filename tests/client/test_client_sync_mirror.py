"""The blocking client is the asyncio client with the awaits taken out, so the two cannot
drift: ``_sync.py`` is this transform of ``_async.py`` (then ``ruff format``)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import omnihub.client

CLIENT = Path(omnihub.client.__file__).parent

_REPLACEMENTS = [
    (
        '"""The asyncio client: :class:`AsyncOmniHubClient`."""',
        '"""The blocking client: :class:`OmniHubClient` (the same calls as the asyncio one)."""',
    ),
    ("import asyncio\n", ""),
    ("from collections.abc import AsyncIterator", "from collections.abc import Iterator"),
    ("AsyncOmniHubClient", "OmniHubClient"),
    ("The OmniHub API from asyncio code.", "The OmniHub API from blocking code."),
    ("httpx.AsyncBaseTransport", "httpx.BaseTransport"),
    ("httpx.AsyncClient", "httpx.Client"),
    ("async def __aenter__", "def __enter__"),
    ("async def __aexit__", "def __exit__"),
    ("async def aclose", "def close"),
    ("await self.aclose()", "self.close()"),
    ("await self._http.aclose()", "self._http.close()"),
    ("AsyncIterator[EventEnvelope]", "Iterator[EventEnvelope]"),
    ("async with", "with"),
    ("async for", "for"),
    ("aiter_lines", "iter_lines"),
    ("await response.aread()", "response.read()"),
    ("await asyncio.sleep", "time.sleep"),
    ("  # noqa: ASYNC109 - the same call as the blocking client's", ""),
    ("async def", "def"),
    ("await ", ""),
]


def unasync(text: str) -> str:
    for old, new in _REPLACEMENTS:
        text = text.replace(old, new)
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or "ruff"
    formatted = subprocess.run(
        [ruff, "format", "--stdin-filename", str(CLIENT / "_sync.py"), "-"],
        input=text,
        capture_output=True,
        text=True,
        check=True,
    )
    return formatted.stdout


def test_sync_client_is_the_async_client_without_awaits() -> None:
    expected = unasync((CLIENT / "_async.py").read_text())
    assert (CLIENT / "_sync.py").read_text() == expected, (
        "omnihub/client/_sync.py is stale: regenerate it from _async.py with unasync()"
    )


def test_client_public_names() -> None:
    assert omnihub.client.__all__ == [
        "ApiError",
        "ApiUnavailableError",
        "AsyncOmniHubClient",
        "OmniHubClient",
        "WaitTimeoutError",
    ]
