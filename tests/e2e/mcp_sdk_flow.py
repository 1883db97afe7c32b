"""The official MCP Python SDK against Registrar, end to end.

The SDK's `OAuthClientProvider` is given nothing but the MCP server's URL. From the resource
server's 401 it discovers the protected resource metadata, then the authorization server's
metadata, registers a client (RFC 7591), sends the person to `/authorize` (here: `Browserless`
signs in and consents through the real forms, CSRF tokens included), exchanges the code with its
PKCE verifier, and calls the MCP tool. The tenant's access tokens live 60 s (the least its policy
allows); the SDK refreshes only when its token has expired by its own clock (a 401 makes it start
over, it does not refresh), so the test waits past the expiry, calls again, and checks that the
second call carried a new token obtained with the refresh grant, and that the old token is now
refused by the resource server.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx2
from mcp.client.auth import OAuthClientProvider
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

from forms import Browserless, Redirect


class MemoryStorage:
    """The SDK's TokenStorage protocol, in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


@dataclass
class Exchange:
    method: str
    url: str
    status: int
    form: dict[str, str] = field(default_factory=dict)
    authorization: str | None = None


class RecordingTransport(httpx2.AsyncHTTPTransport):
    """Keeps every request the SDK sends and the status it got, for the assertions."""

    def __init__(self) -> None:
        super().__init__()
        self.exchanges: list[Exchange] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        body = request.content if isinstance(request.stream, httpx2.ByteStream) else b""
        form: dict[str, str] = {}
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        response = await super().handle_async_request(request)
        self.exchanges.append(Exchange(request.method, str(request.url), response.status_code, form,
                                       request.headers.get("authorization")))
        return response

    def token_requests(self, token_endpoint: str) -> list[Exchange]:
        return [e for e in self.exchanges if e.method == "POST" and e.url == token_endpoint]


def check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def text_of(result: Any) -> str:
    check(not getattr(result, "is_error", False), f"the tool call failed: {result}")
    return " ".join(getattr(block, "text", "") for block in result.content)


async def run_sdk_flow(env: Any, auth_method: str, callback_port: int, documents: Any = None) -> dict[str, Any]:
    """One client of the SDK through the whole flow; returns facts for the report.

    With `documents` (a RunningDocumentServer) the client identifies itself with a client ID
    metadata document served there (`client_metadata_url`) instead of registering."""
    callback = f"http://127.0.0.1:{callback_port}/callback"
    document_path = "/oauth/client-metadata.json"
    metadata_url = documents.url(document_path) if documents is not None else None
    if documents is not None:
        documents.documents[document_path] = {
            "client_id": metadata_url, "client_name": "MCP Python SDK (metadata document)", "redirect_uris": [callback],
            "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        }
    agent = Browserless(env.email, env.password, redirect_prefix=callback)
    landed: list[Redirect] = []
    authorize_urls: list[str] = []

    async def redirect_handler(url: str) -> None:
        authorize_urls.append(url)
        landed.append(await agent.authorize(url))

    async def callback_handler() -> AuthorizationCodeResult:
        query = landed[-1].query
        check("error" not in query, f"the authorization server answered with an error: {query}")
        return AuthorizationCodeResult(code=query["code"], state=query.get("state"), iss=query.get("iss"))

    storage = MemoryStorage()
    provider = OAuthClientProvider(
        server_url=env.resource,
        client_metadata=OAuthClientMetadata(
            client_name=f"MCP Python SDK ({auth_method})",
            redirect_uris=[callback],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method=auth_method,
        ),
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
        client_metadata_url=metadata_url,
    )
    transport = RecordingTransport()
    seen_before = len(env.resource_server.seen)
    try:
        async with httpx2.AsyncClient(auth=provider, transport=transport, timeout=30) as http:
            async with Client(streamable_http_client(env.resource, http_client=http)) as mcp:
                first = text_of(await mcp.call_tool("echo", {"text": f"{auth_method} first"}))
                check(first == f"echo: {auth_method} first", f"unexpected tool answer {first!r}")
                first_tokens = storage.tokens
                check(first_tokens is not None and first_tokens.refresh_token is not None,
                      f"no refresh token after the code exchange: {first_tokens}")
                check(first_tokens.expires_in is not None and first_tokens.expires_in <= env.access_token_lifetime,
                      f"expires_in {first_tokens.expires_in} is not the tenant's {env.access_token_lifetime}")
                # Past the access token's expiry by the SDK's clock and the resource server's.
                await asyncio.sleep(first_tokens.expires_in + 2)
                second = text_of(await mcp.call_tool("echo", {"text": f"{auth_method} second"}))
                check(second == f"echo: {auth_method} second", f"unexpected tool answer {second!r}")
                second_tokens = storage.tokens
    finally:
        await agent.aclose()

    metadata = provider.context.oauth_metadata
    check(metadata is not None, "the SDK found no authorization server metadata")
    check(str(metadata.issuer) == env.issuer, f"issuer {metadata.issuer} is not {env.issuer}")
    prm = provider.context.protected_resource_metadata
    check(prm is not None and [str(s) for s in prm.authorization_servers] == [env.issuer],
          f"protected resource metadata names {prm and prm.authorization_servers}, not [{env.issuer}]")
    client_info = storage.client_info
    if metadata_url is None:
        check(client_info is not None and client_info.client_id.startswith("cl_"), f"no registered client: {client_info}")
    else:
        check(env.metadata.get("client_id_metadata_document_supported") is True,
              "the metadata does not say client_id_metadata_document_supported")
        check(client_info is not None and client_info.client_id == metadata_url, f"the client id is not the document's URL: {client_info}")
        registrations = [e for e in transport.exchanges if e.method == "POST" and e.url == env.registration_endpoint]
        check(not registrations, f"the SDK registered although the server takes metadata documents: {registrations}")
        check(documents.hits.get(document_path, 0) >= 1, "Registrar never fetched the metadata document")
    check(client_info.token_endpoint_auth_method == auth_method,
          f"registered as {client_info.token_endpoint_auth_method}, not {auth_method}")
    check(len(authorize_urls) == 1, f"the SDK authorized {len(authorize_urls)} times; expected once")
    authorize_query = {k: v[0] for k, v in parse_qs(authorize_urls[0].split("?", 1)[1]).items()}
    check(authorize_query.get("code_challenge_method") == "S256", f"authorize request {authorize_query}")
    check(landed[0].query.get("iss") == env.issuer, f"authorization response iss {landed[0].query.get('iss')!r}")
    check(agent.visit.sign_in_posts == 1 and agent.visit.consent_posts == 1,
          f"expected one sign-in and one consent form, got {agent.visit.pages}")

    token_endpoint = str(metadata.token_endpoint)
    grants = [e.form.get("grant_type") for e in transport.token_requests(token_endpoint)]
    check(grants == ["authorization_code", "refresh_token"], f"token requests were {grants}")
    refresh = transport.token_requests(token_endpoint)[1]
    check(refresh.status == 200, f"the refresh grant answered {refresh.status}")
    if auth_method == "client_secret_basic":
        check(refresh.authorization is not None and refresh.authorization.startswith("Basic "),
              "the confidential client's refresh carried no Basic credentials")
    check(second_tokens is not None and second_tokens.access_token != first_tokens.access_token,
          "the call after the expiry did not use a new access token")
    if auth_method == "none":
        # OAuth 2.1 §4.3.1: a public client's refresh token is rotated on every use.
        check(second_tokens.refresh_token not in (None, first_tokens.refresh_token), "the refresh token was not rotated")

    # The SDK's first request to the resource got 401 (that is what started discovery); the
    # resource server then saw authenticated requests of this client, the later ones with the
    # refreshed token, all for this resource and this user.
    to_resource = [e for e in transport.exchanges if e.url.startswith(env.resource)]
    check(to_resource and to_resource[0].status == 401 and to_resource[0].authorization is None,
          f"the first request to the resource was not an unauthenticated 401: {to_resource[:1]}")
    authenticated = [s for s in env.resource_server.seen[seen_before:]
                     if s.claims is not None and s.claims.get("client_id") == client_info.client_id]
    check(len(authenticated) >= 2, f"only {len(authenticated)} authenticated requests of this client reached the resource")
    jtis = [s.claims["jti"] for s in authenticated]
    check(len(set(jtis)) == 2 and jtis[-1] != jtis[0], f"expected the first token, then the refreshed one: {jtis}")
    for s in authenticated:
        claims = s.claims
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        check(env.resource in audiences, f"aud {claims['aud']} lacks {env.resource}")
        check(claims["sub"] == env.user_id, f"sub {claims['sub']} is not the user {env.user_id}")

    # The old access token is expired now: the resource server refuses it with invalid_token.
    async with httpx2.AsyncClient(timeout=10) as plain:
        stale = await plain.post(env.resource, headers={"Authorization": f"Bearer {first_tokens.access_token}",
                                                        "Content-Type": "application/json",
                                                        "Accept": "application/json, text/event-stream"},
                                 content=b'{"jsonrpc":"2.0","id":1,"method":"ping"}')
    check(stale.status_code == 401 and 'error="invalid_token"' in stale.headers.get("www-authenticate", ""),
          f"the expired token got {stale.status_code} {stale.headers.get('www-authenticate')}")
    return {"client_id": client_info.client_id, "scope": first_tokens.scope, "requests": len(transport.exchanges)}
