"""The version's telemetry_config: where the platform exports the container's logs and signals.

Built from deploy.py's --otlp-* and --telemetry-data options, in the wire form of
azure-ai-projects 2.10.0 (TelemetryConfig of OtlpTelemetryEndpoint).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

# TelemetryDataKind, TelemetryTransportProtocol (azure-ai-projects 2.10.0).
DATA_KINDS = ("ContainerStdoutStderr", "ContainerOtel", "Metrics")
PROTOCOLS = {"http": "Http", "grpc": "Grpc"}
AUTH_FORM = "HEADER:SECRET_ID:SECRET_KEY"
HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,100}$")


def config(
    endpoints: list[str], protocol: str, data: str | None, auth: str | None
) -> tuple[dict[str, Any] | None, list[str]]:
    """The telemetry_config JSON (None when no endpoint is given) and its problems."""
    if not endpoints:
        extra = [
            flag for flag, value in (("--telemetry-data", data), ("--otlp-auth", auth)) if value
        ]
        return None, [f"{flag} needs --otlp-endpoint URL" for flag in extra]
    problems = [problem for url in endpoints for problem in _endpoint(url)]
    if len(set(endpoints)) < len(endpoints):
        problems.append("--otlp-endpoint: each endpoint once")
    kinds, kind_problems = _data(data)
    header, header_problems = _auth(auth)
    problems += kind_problems + header_problems
    if protocol not in PROTOCOLS:
        problems.append(f"--otlp-protocol '{protocol}': use http or grpc")
    if problems:
        return None, problems
    wire = {"protocol": PROTOCOLS[protocol], "data": kinds, **({"auth": header} if header else {})}
    return {"endpoints": [{"kind": "OTLP", "endpoint": url, **wire} for url in endpoints]}, []


def _endpoint(url: str) -> list[str]:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        return [f"--otlp-endpoint '{url}': use an https:// URL of your OTLP collector"]
    host = parts.hostname
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        return [
            f"--otlp-endpoint '{url}': the platform exports from Azure and cannot reach "
            "your machine; use a collector it can reach"
        ]
    return []


def _data(data: str | None) -> tuple[list[str], list[str]]:
    """--telemetry-data KIND[,KIND...]: the kinds in canonical spelling (default: all)."""
    if data is None:
        return list(DATA_KINDS), []
    by_name = {kind.lower(): kind for kind in DATA_KINDS}
    given = [name.strip() for name in data.split(",") if name.strip()]
    unknown = [name for name in given if name.lower() not in by_name]
    if unknown or not given:
        return [], [f"--telemetry-data '{data}': use one or more of {', '.join(DATA_KINDS)}"]
    return list(dict.fromkeys(by_name[name.lower()] for name in given)), []


def _auth(auth: str | None) -> tuple[dict[str, str] | None, list[str]]:
    """--otlp-auth: the platform reads a connection's secret and sends it in a header
    (HeaderTelemetryEndpointAuth). The secret id may itself hold colons, so the header is
    before the first and the key after the last.
    """
    if auth is None:
        return None, []
    header, _, rest = auth.partition(":")
    secret_id, _, key = rest.rpartition(":")
    if not (HEADER_NAME.match(header) and secret_id.strip() and key.strip()):
        return None, [f"--otlp-auth '{auth}': write {AUTH_FORM} (a connection's secret)"]
    return {"type": "header", "header_name": header, "secret_id": secret_id, "secret_key": key}, []
