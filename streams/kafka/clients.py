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


def describe_connection(settings: Settings) -> str:
    """Where and how the service connects, for error messages (never the password)."""
    text = f"{settings.bootstrap_servers} over {settings.security_protocol}"
    if settings.security_protocol.startswith("SASL"):
        text += f" ({settings.sasl_mechanism or 'PLAIN'} as user {settings.sasl_username!r})"
    return text


async def connection_problem(settings: Settings) -> str:
    """Why connecting fails, in words: aiokafka's bootstrap only says "Unable to bootstrap",
    so one connection is opened directly to learn the cause (refused login, untrusted
    certificate, nothing listening)."""
    from aiokafka.conn import create_conn
    from aiokafka.errors import SaslAuthenticationFailed

    host, _, port = settings.bootstrap_servers.split(",")[0].rpartition(":")
    kwargs = client_kwargs(settings)
    kwargs.pop("bootstrap_servers")
    try:
        conn = await create_conn(host, int(port), request_timeout_ms=10_000, **kwargs)
    except SaslAuthenticationFailed:
        return (
            f"the broker refused the login of user {settings.sasl_username!r} with "
            f"{settings.sasl_mechanism or 'PLAIN'}: check BORDER_SURGE_SASL_USERNAME and "
            "BORDER_SURGE_SASL_PASSWORD"
        )
    except ssl.SSLCertVerificationError as exc:
        return (
            f"TLS: the broker's certificate is not trusted ({exc.verify_message}): check "
            "BORDER_SURGE_SSL_CAFILE"
        )
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    conn.close()
    return "the broker answered one connection but not the client's bootstrap"
