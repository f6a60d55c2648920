"""The official Python client of the OmniHub API (sync and asyncio, on httpx).

Built on the same models as the server (:class:`~omnihub.events.GoalState`, typed events,
:class:`~omnihub.goals.GoalAccepted`…), so what it returns is what the API promises.
"""

from omnihub.client._async import AsyncOmniHubClient
from omnihub.client._errors import ApiError, ApiUnavailableError, WaitTimeoutError
from omnihub.client._sync import OmniHubClient

__all__ = [
    "ApiError",
    "ApiUnavailableError",
    "AsyncOmniHubClient",
    "OmniHubClient",
    "WaitTimeoutError",
]
