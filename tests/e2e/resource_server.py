"""A tenant's MCP server, as small as the README's setup: the resource server of the end-to-end test.

It is a real MCP server (the SDK's `MCPServer`, streamable HTTP) behind a bearer-token gate that
does what RFC 9728 and RFC 6750 ask of a protected resource, with nothing of its own invented:

- its protected resource metadata document is served byte for byte as the admin API produced it
  (RFC 9728 §3), at the path the admin API's `WWW-Authenticate` value names;
- a request without a usable token gets 401 with exactly that `WWW-Authenticate` value
  (RFC 9728 §5.1, RFC 6750 §3), plus `error="invalid_token"` when a token was sent but refused;
- a token is accepted only as an RFC 9068 access token: `typ` `at+jwt`, ES256 signature by a key
  of the issuer's `/jwks.json`, `iss` the issuer, `aud` containing this resource, `exp` in the
  future (no leeway), and the claims RFC 9068 §2.2 requires present.

Every request it answers is recorded (status and, when authenticated, the token's claims), so the
test can assert what the client really sent, e.g. that the call after a refresh carried a new token.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import jwt
import uvicorn
from mcp.server.mcpserver import MCPServer
from starlette.types import ASGIApp, Receive, Scope, Send

# RFC 9068 §2.2: claims every access token in this profile carries.
REQUIRED_CLAIMS = ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"]


@dataclass
class Seen:
    """One request the resource server answered."""

    path: str
    status: int
    claims: dict[str, Any] | None = None
    reason: str | None = None


@dataclass
class ResourceServerConfig:
    issuer: str
    resource: str
    jwks_uri: str
    metadata_bytes: bytes
    www_authenticate: str
    metadata_path: str


class TokenGate:
    """ASGI middleware: serves the metadata document and lets only valid access tokens through."""

    def __init__(self, app: ASGIApp, config: ResourceServerConfig):
        self.app = app
        self.config = config
        self.jwks = jwt.PyJWKClient(config.jwks_uri, cache_keys=True, lifespan=300)
        self.seen: list[Seen] = []
        self.lock = threading.Lock()

    def record(self, seen: Seen) -> None:
        with self.lock:
            self.seen.append(seen)

    def verify(self, token: str) -> dict[str, Any]:
        header = jwt.get_unverified_header(token)
        # RFC 9068 §4: resource servers MUST verify that the typ header is at+jwt.
        if str(header.get("typ", "")).lower() not in ("at+jwt", "application/at+jwt"):
            raise jwt.InvalidTokenError(f"typ is {header.get('typ')!r}, not at+jwt")
        if header.get("alg") != "ES256":
            raise jwt.InvalidTokenError(f"alg is {header.get('alg')!r}, not ES256")
        key = self.jwks.get_signing_key_from_jwt(token)
        return jwt.decode(
            token,
            key.key,
            algorithms=["ES256"],
            audience=self.config.resource,
            issuer=self.config.issuer,
            leeway=0,
            options={"require": REQUIRED_CLAIMS},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path == self.config.metadata_path:
            await self.respond(send, 200, self.config.metadata_bytes, [(b"content-type", b"application/json")])
            self.record(Seen(path, 200))
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        authorization = headers.get("authorization", "")
        if not authorization.lower().startswith("bearer "):
            self.record(Seen(path, 401, reason="no token"))
            await self.unauthorized(send, None)
            return
        try:
            claims = self.verify(authorization[7:].strip())
        except (jwt.PyJWTError, jwt.PyJWKClientError) as error:
            self.record(Seen(path, 401, reason=f"{type(error).__name__}: {error}"))
            await self.unauthorized(send, "invalid_token")
            return
        self.record(Seen(path, 200, claims=claims))
        await self.app(scope, receive, send)

    async def unauthorized(self, send: Send, error: str | None) -> None:
        value = self.config.www_authenticate
        if error is not None:
            # RFC 6750 §3: the error attribute joins the challenge the admin API produced.
            value = f'{value}, error="{error}"'
        body = json.dumps({"error": error or "invalid_request"}).encode()
        await self.respond(send, 401, body, [(b"content-type", b"application/json"),
                                              (b"www-authenticate", value.encode("latin-1"))])

    @staticmethod
    async def respond(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        headers = headers + [(b"content-length", str(len(body)).encode()), (b"cache-control", b"no-store")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def metadata_path_from_challenge(www_authenticate: str) -> str:
    """The path of the `resource_metadata` URL in a `WWW-Authenticate: Bearer …` value."""
    marker = 'resource_metadata="'
    start = www_authenticate.index(marker) + len(marker)
    url = www_authenticate[start:www_authenticate.index('"', start)]
    return urlsplit(url).path


def build_mcp_server() -> MCPServer:
    server = MCPServer("Registrar end-to-end resource")

    @server.tool()
    def echo(text: str) -> str:
        """Returns its argument: proof that an authenticated call reached the server."""
        return f"echo: {text}"

    return server


class RunningResourceServer:
    """The resource server on 127.0.0.1:port in a background thread (uvicorn)."""

    def __init__(self, config: ResourceServerConfig, port: int):
        mcp_app = build_mcp_server().streamable_http_app(
            streamable_http_path=urlsplit(config.resource).path or "/",
            stateless_http=True,
            json_response=True,
        )
        self.gate = TokenGate(mcp_app, config)
        self.port = port
        self.server = uvicorn.Server(uvicorn.Config(self.gate, host="127.0.0.1", port=port, log_level="warning",
                                                    lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, name="resource-server", daemon=True)

    def __enter__(self) -> "RunningResourceServer":
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the resource server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    @property
    def seen(self) -> list[Seen]:
        with self.gate.lock:
            return list(self.gate.seen)
