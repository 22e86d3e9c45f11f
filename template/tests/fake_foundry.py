"""A fake of the Foundry agents REST API on 127.0.0.1, for deploy.py's tests.

It speaks the wire format azure-ai-projects and openai send and read
(https, JSON, multipart/form-data, SSE), records every request, and plays scripted
outcomes. It serves
TLS with a throwaway certificate because azure-core refuses bearer tokens over
plain http; `trust()` points the sync clients at it through SSL_CERT_FILE and
REQUESTS_CA_BUNDLE, and `client_options` the async one.
"""

from __future__ import annotations

import copy
import datetime
import email.parser
import email.policy
import hashlib
import ipaddress
import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from azure.core.credentials import AccessToken

PROJECT = "/api/projects/demo"
TOKEN = "test-token"


class StaticTokenCredential:
    """A TokenCredential for tests only: always the same token, no Azure involved."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(TOKEN, int(time.time()) + 3600)


class AsyncStaticTokenCredential:
    """The async form of StaticTokenCredential, for azure.ai.projects.aio."""

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(TOKEN, int(time.time()) + 3600)

    async def close(self) -> None:
        pass

    async def __aenter__(self) -> AsyncStaticTokenCredential:
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass


@dataclass
class Part:
    """One part of a multipart/form-data body."""

    name: str
    filename: str | None
    content_type: str
    data: bytes


@dataclass
class Recorded:
    """One request as the fake received it; a multipart body's JSON part is its body."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    parts: list[Part] = field(default_factory=list)


@dataclass
class Script:
    """What the fake answers. Errors are (http status, error code, message)."""

    create_error: tuple[int, str, str] | None = None
    creating_polls: int = 1
    failure: tuple[str, str] | None = None  # the version ends failed with (code, message)
    endpoint_error: tuple[int, str, str] | None = None
    reply: str = "Yes, I am up."
    reply_status: str = "completed"  # or "failed": the agent's reply ends in an error
    page_size: int = 2
    sessions: bool = False  # versions have sessions: delete needs force
    agent_state: str = "enabled"  # AgentDetails.state: whether the agent endpoint takes requests


@dataclass
class FakeFoundry:
    """The fake service; `endpoint` is the project endpoint to give deploy.py."""

    folder: Path
    script: Script = field(default_factory=Script)
    requests: list[Recorded] = field(default_factory=list)
    versions: dict[str, dict[str, Any]] = field(default_factory=dict)
    polls: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ca_file, context = _tls(self.folder)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        self.endpoint = f"https://127.0.0.1:{self.server.server_address[1]}{PROJECT}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def trust(self, monkeypatch: Any) -> None:
        """Make requests (sync SDK) and httpx (openai) trust the fake's certificate."""
        monkeypatch.setenv("SSL_CERT_FILE", str(self.ca_file))
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(self.ca_file))

    @property
    def client_options(self) -> dict[str, Any]:
        """azure-core options for the async client: aiohttp reads no CA variables."""
        return {"connection_verify": str(self.ca_file)}

    def sent(self, method: str, suffix: str) -> list[Recorded]:
        """The recorded requests with this method whose path ends with suffix."""
        return [r for r in self.requests if r.method == method and r.path.endswith(suffix)]

    def add_version(self, name: str, status: str = "active", image: str = "r.io/a:1") -> str:
        """A version that exists before the test (for versions, show and delete)."""
        version = str(len(self.versions) + 1)
        definition = {"kind": "hosted", "container_configuration": {"image": image}}
        self.versions[version] = _version(name, version, definition)
        self.versions[version]["status"] = status
        return version

    # The service's behaviour, called by the handler.

    def create(self, name: str, body: dict[str, Any]) -> tuple[int, Any]:
        if self.script.create_error:
            return _error(*self.script.create_error)
        version = str(len(self.versions) + 1)
        details = _version(name, version, copy.deepcopy(body.get("definition", {})))
        details.update(description=body.get("description"), metadata=body.get("metadata") or {})
        details["status"] = "creating"
        self.versions[version] = details
        self.polls[version] = 0
        return 200, _public(details)

    def create_from_code(
        self, name: str, headers: Any, parts: list[Part]
    ) -> tuple[int, Any, dict[str, Any] | None]:
        """POST .../versions as multipart: a JSON `metadata` part and the `code` zip."""
        by_name = {part.name: part for part in parts}
        if set(by_name) != {"metadata", "code"} or len(parts) != 2:
            return *_error(400, "invalid_payload", "expected parts: metadata and code"), None
        metadata = json.loads(by_name["metadata"].data)
        digest = hashlib.sha256(by_name["code"].data).hexdigest()
        if headers.get("x-ms-code-zip-sha256") != digest:
            return *_error(400, "invalid_payload", "x-ms-code-zip-sha256 does not match"), metadata
        status, details = self.create(name, metadata)
        if status == 200:
            # The service records the hash of the zip it received (read-only content_hash).
            code = self.versions[details["version"]]["definition"]["code_configuration"]
            code["content_hash"] = digest
            details = _public(self.versions[details["version"]])
        return status, details, metadata

    def agent(self, name: str) -> tuple[int, Any]:
        """GET /agents/{name}: AgentDetails, with the latest version."""
        if not self.versions:
            return _error(404, "not_found", f"Agent '{name}' not found")
        latest = self.versions[max(self.versions, key=int)]
        return 200, {
            "object": "agent",
            "id": name,
            "name": name,
            "state": self.script.agent_state,
            "configuration_state": self.script.agent_state,
            "versions": {"latest": _public(latest)},
        }

    def get(self, version: str) -> tuple[int, Any]:
        details = self.versions.get(version)
        if details is None:
            return _error(404, "not_found", f"Agent version '{version}' not found")
        if details["status"] == "creating":
            self.polls[version] = self.polls.get(version, 0) + 1
            if self.polls[version] >= self.script.creating_polls:
                if self.script.failure:
                    code, message = self.script.failure
                    details.update(status="failed", error={"code": code, "message": message})
                else:
                    details["status"] = "active"
        return 200, _public(details)

    def page(self, query: dict[str, str]) -> tuple[int, Any]:
        ordered = sorted(self.versions.values(), key=lambda v: int(v["version"]))
        if query.get("order") == "desc":
            ordered.reverse()
        ids = [v["version"] for v in ordered]
        start = ids.index(query["after"]) + 1 if query.get("after") in ids else 0
        size = int(query.get("limit") or self.script.page_size)
        data = [_public(v) for v in ordered[start : start + size]]
        last = data[-1]["version"] if data else None
        has_more = start + size < len(ordered)
        return 200, {
            "data": data,
            "has_more": has_more,
            "first_id": data[0]["version"] if data else None,
            "last_id": last,
        }

    def delete(self, name: str, version: str, force: bool) -> tuple[int, Any]:
        if version not in self.versions:
            return _error(404, "not_found", f"Agent version '{version}' not found")
        if self.script.sessions and not force:
            return _error(409, "conflict", "The agent version has active sessions")
        del self.versions[version]
        return 200, {
            "object": "agent.version.deleted",
            "name": name,
            "version": version,
            "deleted": True,
        }

    def respond(self, name: str, body: dict[str, Any]) -> tuple[int, Any]:
        if self.script.endpoint_error:
            return _error(*self.script.endpoint_error)
        response = _response(name, self.script.reply, len(self.requests))
        response["status"] = self.script.reply_status
        return 200, response


def _public(details: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in details.items() if value is not None}


def _version(name: str, version: str, definition: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "agent.version",
        "id": f"{name}:{version}",
        "name": name,
        "version": version,
        "created_at": 1793534400 + int(version),
        "definition": definition,
        "instance_identity": {"principal_id": "00000000-0000-0000-0000-00000000000a"},
    }


def _response(name: str, text: str, number: int) -> dict[str, Any]:
    return {
        "id": f"resp_{number:04d}",
        "object": "response",
        "created_at": 1793534400,
        "status": "completed",
        "model": name,
        "output": [
            {
                "type": "message",
                "id": f"msg_{number:04d}",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
    }


def _error(status: int, code: str, message: str) -> tuple[int, Any]:
    return status, {"error": {"code": code, "message": message, "type": "invalid_request_error"}}


def _handler(fake: FakeFoundry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _read(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while size := int(self.rfile.readline().split(b";")[0], 16):
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                self.rfile.readline()  # the blank line after the last chunk
                return b"".join(chunks)
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _serve(self) -> None:
            url = urlsplit(self.path)
            raw = self._read()
            content_type = self.headers.get("Content-Type", "")
            parts = _multipart(content_type, raw) if content_type.startswith("multipart/") else []
            body = json.loads(raw) if raw and not parts else None
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            recorded = Recorded(
                self.command, url.path, query, dict(self.headers.items()), body, parts
            )
            fake.requests.append(recorded)
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self._json(
                    *_error(401, "unauthorized", "Access token is missing or invalid")
                )
            route = url.path.removeprefix(PROJECT).strip("/").split("/")
            stream = isinstance(body, dict) and body.get("stream")
            match self.command, route:
                case "POST", ["agents", name, "versions"] if parts:
                    status, answer, recorded.body = fake.create_from_code(name, self.headers, parts)
                    self._json(status, answer)
                case "POST", ["agents", name, "versions"]:
                    self._json(*fake.create(name, body))
                case "GET", ["agents", name]:
                    self._json(*fake.agent(name))
                case "GET", ["agents", _, "versions"]:
                    self._json(*fake.page(query))
                case "GET", ["agents", _, "versions", version]:
                    self._json(*fake.get(version))
                case "DELETE", ["agents", name, "versions", version]:
                    self._json(*fake.delete(name, version, query.get("force") == "true"))
                case "PATCH", ["agents", name]:
                    self._json(200, {"object": "agent", "name": name, **body})
                case "POST", ["agents", name, "endpoint", "protocols", "openai", "responses"]:
                    status, answer = fake.respond(name, body)
                    self._stream(answer) if stream and status == 200 else self._json(status, answer)
                case _:
                    self._json(*_error(404, "not_found", f"no route {self.command} {url.path}"))

        do_GET = do_POST = do_PATCH = do_DELETE = _serve

        def _json(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _stream(self, response: dict[str, Any]) -> None:
            text = response["output"][0]["content"][0]["text"]
            created = {**response, "status": "in_progress", "output": []}
            events = [("response.created", {"response": created})]
            for number, word in enumerate(text.split(" ")):
                delta = word if number == 0 else f" {word}"
                events.append(
                    (
                        "response.output_text.delta",
                        {
                            "item_id": response["output"][0]["id"],
                            "output_index": 0,
                            "content_index": 0,
                            "delta": delta,
                            "logprobs": [],
                        },
                    )
                )
            events.append((f"response.{response['status']}", {"response": response}))
            data = b"".join(
                _sse(kind, {"type": kind, "sequence_number": n, **event})
                for n, (kind, event) in enumerate(events)
            )
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _multipart(content_type: str, raw: bytes) -> list[Part]:
    """The parts of a multipart/form-data body (RFC 7578), split on the boundary byte for byte."""
    header = email.parser.HeaderParser(policy=email.policy.HTTP)
    boundary = header.parsestr(f"Content-Type: {content_type}\r\n\r\n").get_param("boundary")
    parts = []
    for chunk in raw.split(b"--" + boundary.encode())[1:]:
        if chunk.startswith(b"--"):  # the closing delimiter
            break
        head, _, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        headers = header.parsestr(head.decode("utf-8") + "\r\n\r\n")
        parts.append(
            Part(
                name=str(headers.get_param("name", header="content-disposition")),
                filename=headers.get_filename(),
                content_type=headers.get_content_type(),
                data=data.removesuffix(b"\r\n"),
            )
        )
    return parts


def _sse(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode()


def _tls(folder: Path) -> tuple[Path, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1 (cryptography comes with azure-identity)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-foundry")])
    now = datetime.datetime.now(datetime.UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "fake-foundry.pem", folder / "fake-foundry.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return cert_file, context
