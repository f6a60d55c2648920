"""Subscriptions: catch up from a position, then follow new events as they commit."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from types import TracebackType
from typing import Protocol

from omnihub.events._envelope import EventEnvelope

__all__ = ["ConditionWaiter", "Subscription", "Waiter"]


class Waiter(Protocol):
    """How a backend tells a subscription that new events may have committed."""

    def token(self) -> int:
        """A marker taken before reading; :meth:`wait` returns at once if it is stale."""
        ...

    def wait(self, token: int, timeout: float) -> None:
        """Block until a possible change after ``token``, a wake-up, or ``timeout`` seconds."""
        ...

    def wake(self) -> None:
        """Release a blocked :meth:`wait` (used by :meth:`Subscription.stop`)."""
        ...

    def close(self) -> None: ...


class ConditionWaiter:
    """In-process notification: appends through the same store object call :meth:`notify`.

    Writers in other processes are noticed by the subscription's poll interval.
    """

    def __init__(self, condition: threading.Condition, generation: Callable[[], int]) -> None:
        self._condition = condition
        self._generation = generation

    def token(self) -> int:
        return self._generation()

    def wait(self, token: int, timeout: float) -> None:
        with self._condition:
            if self._generation() == token:
                self._condition.wait(timeout)

    def wake(self) -> None:
        with self._condition:
            self._condition.notify_all()

    def close(self) -> None:
        return None


class Subscription:
    """A tenant's events in global order from a position: first the backlog, then live.

    Iterate it (blocking; ends after :meth:`stop`), ``async for`` over it (each wait runs in a
    worker thread, for SSE), or call :meth:`poll` for one batch. ``position`` is the last
    position delivered, the value to resume from.
    """

    def __init__(
        self,
        read: Callable[[int, int], list[EventEnvelope]],
        from_position: int,
        waiter: Waiter,
        *,
        poll_interval: float = 1.0,
        batch_size: int = 500,
    ) -> None:
        self._read = read
        self._waiter = waiter
        self.position = from_position
        self.poll_interval = poll_interval
        self.batch_size = batch_size
        self._stopped = threading.Event()

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def poll(self, timeout: float = 0.0) -> list[EventEnvelope]:
        """The next batch of events; when there is none, wait up to ``timeout`` for one."""
        token = self._waiter.token()
        batch = self._read(self.position, self.batch_size)
        if not batch and timeout > 0 and not self.stopped:
            self._waiter.wait(token, timeout)
            batch = self._read(self.position, self.batch_size)
        if batch:
            self.position = batch[-1].global_position
        return batch

    def __iter__(self) -> Iterator[EventEnvelope]:
        while not self.stopped:
            yield from self.poll(self.poll_interval)

    async def __aiter__(self) -> AsyncIterator[EventEnvelope]:
        while not self.stopped:
            for event in await asyncio.to_thread(self.poll, self.poll_interval):
                yield event

    def stop(self) -> None:
        """End iteration (from any thread) and release the backend's listener."""
        self._stopped.set()
        self._waiter.wake()

    def close(self) -> None:
        self.stop()
        self._waiter.close()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
