"""Observability of one process from its settings: logging, secrets to mask, tracing."""

from __future__ import annotations

from omnihub.config import Settings
from omnihub.telemetry._logging import configure_logging, redact
from omnihub.telemetry._tracing import configure_tracing


def configure_process(settings: Settings, service_name: str) -> bool:
    """Configure logging (``log_level``, ``log_format``; the settings' secrets masked) and
    tracing (``OTEL_*``) for this process; True when tracing is on."""
    configure_logging(settings.log_level, settings.log_format)
    # Every secret setting is masked, whatever logs it by mistake.
    redact(
        *(
            secret.get_secret_value()
            for secret in (
                settings.llm_api_key,
                settings.temporal_api_key,
                settings.smtp_password,
                settings.codec_keys,
                settings.api_keys_secret,
            )
            if secret is not None
        )
    )
    return configure_tracing(service_name)
