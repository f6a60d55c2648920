"""One LLM HTTP call with the retry rules users expect, and provider errors translated."""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

import httpx

from omnihub.errors import (
    ProviderRateLimitError,
    ProviderRequestError,
    ProviderUnavailableError,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """How one LLM call is retried: 429 honours Retry-After, 5xx and timeouts back off.

    Other 4xx statuses are never retried: the request itself is wrong.
    """

    max_retries: int = 4
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 20.0
    max_retry_after_s: float = 60.0

    def backoff(self, retry: int) -> float:
        """Exponential backoff with full jitter for the ``retry``-th retry (0-based)."""
        ceiling = min(self.backoff_max_s, self.backoff_initial_s * (2**retry))
        return random.uniform(ceiling / 2, ceiling)


@dataclass(frozen=True)
class HttpReply:
    """A successful provider reply: the decoded JSON body and the wall time spent on it."""

    body: dict[str, Any]
    latency_ms: float
    attempts: int


def parse_retry_after(headers: httpx.Headers) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def provider_message(response: httpx.Response) -> str:
    """The provider's own error message (OpenAI and Anthropic both use ``error.message``)."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return text[:500] or response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(error, str):
            return error
        if isinstance(body.get("message"), str):
            return str(body["message"])
    return json.dumps(body)[:500]


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    payload: dict[str, Any],
    *,
    headers: dict[str, str],
    provider: str,
    policy: RetryPolicy,
) -> HttpReply:
    """POST ``payload`` and return the JSON reply, retrying as :class:`RetryPolicy` says.

    Raises ProviderRequestError (4xx), ProviderRateLimitError (429 past the retries or a
    Retry-After over the limit) or ProviderUnavailableError (5xx, timeouts, connection errors).
    """
    started = time.perf_counter()
    retry = 0
    while True:
        try:
            response = await client.post(url, json=payload, headers=headers)
        except httpx.TimeoutException as exc:
            failure: Exception = ProviderUnavailableError(
                f"{provider}: request timed out ({type(exc).__name__})", provider
            )
            delay = policy.backoff(retry)
        except httpx.TransportError as exc:
            failure = ProviderUnavailableError(f"{provider}: cannot reach {url}: {exc}", provider)
            delay = policy.backoff(retry)
        else:
            status = response.status_code
            if status < 300:
                try:
                    body = response.json()
                except ValueError as exc:
                    raise ProviderUnavailableError(
                        f"{provider}: reply is not JSON: {response.text[:200]!r}", provider, status
                    ) from exc
                if not isinstance(body, dict):
                    raise ProviderUnavailableError(
                        f"{provider}: reply is not a JSON object", provider, status
                    )
                elapsed = (time.perf_counter() - started) * 1000
                return HttpReply(body=body, latency_ms=elapsed, attempts=retry + 1)
            message = provider_message(response)
            if status == 429:
                retry_after = parse_retry_after(response.headers)
                if retry_after is not None and retry_after > policy.max_retry_after_s:
                    raise ProviderRateLimitError(
                        f"{provider}: rate limited (429) and asked to wait {retry_after:.0f}s, "
                        f"over the {policy.max_retry_after_s:.0f}s limit: {message}",
                        provider,
                        retry_after=retry_after,
                    )
                failure = ProviderRateLimitError(
                    f"{provider}: rate limited (429): {message}", provider, retry_after=retry_after
                )
                delay = retry_after if retry_after is not None else policy.backoff(retry)
            elif status >= 500:
                failure = ProviderUnavailableError(
                    f"{provider}: server error {status}: {message}", provider, status
                )
                delay = policy.backoff(retry)
            else:
                raise ProviderRequestError(
                    f"{provider}: request rejected ({status}): {message}", provider, status
                )
        if retry >= policy.max_retries:
            raise failure
        logger.warning("%s; retry %d in %.2fs", failure, retry + 1, delay)
        await asyncio.sleep(delay)
        retry += 1


class JsonEndpoint:
    """One provider endpoint: its URL, headers, retry policy and HTTP connection pool."""

    def __init__(
        self,
        provider: str,
        url: str,
        headers: dict[str, str],
        *,
        timeout_s: float,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.provider = provider
        self.url = url
        self.headers = headers
        self.retry = retry or RetryPolicy()
        self._client = httpx.AsyncClient(timeout=timeout_s)

    async def post(self, payload: dict[str, Any]) -> HttpReply:
        return await post_json(
            self._client,
            self.url,
            payload,
            headers=self.headers,
            provider=self.provider,
            policy=self.retry,
        )

    async def aclose(self) -> None:
        await self._client.aclose()
