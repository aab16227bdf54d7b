"""Connection options for aiokafka clients and for Faust, built from settings."""

from __future__ import annotations

import ssl
from typing import Any

from streams.settings import Settings


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    if "SSL" not in settings.security_protocol:
        return None
    cafile = str(settings.ssl_cafile) if settings.ssl_cafile else None
    return ssl.create_default_context(cafile=cafile)


def client_kwargs(settings: Settings) -> dict[str, Any]:
    """Keyword arguments shared by every aiokafka producer, consumer and admin client."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "security_protocol": settings.security_protocol,
    }
    context = ssl_context(settings)
    if context is not None:
        kwargs["ssl_context"] = context
    if settings.security_protocol.startswith("SASL"):
        kwargs["sasl_mechanism"] = settings.sasl_mechanism or "PLAIN"
        kwargs["sasl_plain_username"] = settings.sasl_username
        password = settings.sasl_password
        kwargs["sasl_plain_password"] = password.get_secret_value() if password else None
    return kwargs


def faust_credentials(settings: Settings) -> Any:
    """Faust's credentials object for the configured security protocol (None for PLAINTEXT)."""
    import faust

    context = ssl_context(settings)
    if settings.security_protocol.startswith("SASL"):
        password = settings.sasl_password.get_secret_value() if settings.sasl_password else ""
        mechanism = settings.sasl_mechanism or "PLAIN"
        if mechanism == "PLAIN":
            return faust.SASLCredentials(
                username=settings.sasl_username, password=password, ssl_context=context
            )
        return faust.SASLCredentials(
            username=settings.sasl_username,
            password=password,
            ssl_context=context,
            mechanism=mechanism,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None
