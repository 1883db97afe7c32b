"""Issue 11's acceptance harnesses against a running Registrar, run by scripts/test (scripts/lib/e2e.sh).

    python run.py --base-url http://localhost:PORT --platform-key rk_… [--output DIR] [--only NAME…]

Through the admin API it prepares one tenant the way its admin would: a policy whose access tokens
live 60 s (so a refresh really happens), a demo user, and the tenant's MCP server registered as
a resource server, whose RFC 9728 document and WWW-Authenticate value the resource server of
`resource_server.py` then serves. Then it runs each harness and prints one line per harness and a
closing `N passed, N failed` line; the exit status is non-zero when any failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import socket
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent))

from resource_server import ResourceServerConfig, RunningResourceServer, metadata_path_from_challenge  # noqa: E402

TENANT = "e2e-acme"
TENANT_NAME = "Acme Widgets (end-to-end)"
RESOURCE_SCOPES = ["mcp:tools"]
ACCESS_TOKEN_LIFETIME = 60  # the least the policy allows


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Environment:
    base_url: str
    issuer: str
    tenant_name: str
    email: str
    password: str
    user_id: str
    resource: str
    resource_server: RunningResourceServer
    metadata: dict[str, Any]
    access_token_lifetime: int

    # Where the metadata lacks an endpoint (published_documents fails then), the harnesses that
    # do not test discovery use the issuer's own path for it, so each harness reports on its part.
    @property
    def authorization_endpoint(self) -> str:
        return self.metadata.get("authorization_endpoint") or self.issuer + "/authorize"

    @property
    def token_endpoint(self) -> str:
        return self.metadata.get("token_endpoint") or self.issuer + "/token"

    @property
    def registration_endpoint(self) -> str:
        return self.metadata["registration_endpoint"]


class Admin:
    """The admin API with a platform key; any non-2xx answer is an error that says what was asked."""

    def __init__(self, base_url: str, key: str):
        self.http = httpx2.Client(base_url=base_url + "/admin/v1", headers={"Authorization": f"Bearer {key}"}, timeout=30)

    def call(self, method: str, path: str, body: Any = None, expect: tuple[int, ...] = (200, 201)) -> Any:
        response = self.http.request(method, path, json=body)
        if response.status_code not in expect:
            raise RuntimeError(f"admin API {method} {path} answered {response.status_code}: {response.text}")
        return response.json() if response.content else None


def prepare(base_url: str, key: str, stack: list[Callable[[], None]]) -> Environment:
    admin = Admin(base_url, key)
    admin.call("POST", "/tenants", {"slug": TENANT, "display_name": TENANT_NAME})
    admin.call("PUT", f"/tenants/{TENANT}/policy", {
        "allowed_scopes": ["openid", "profile", "email", "offline_access", *RESOURCE_SCOPES],
        "default_scopes": ["openid", "profile", "email"],
        "authorization_server": {"access_token_lifetime_seconds": ACCESS_TOKEN_LIFETIME},
        # The metadata document harness serves its document from localhost (allowed to the
        # server's outbound fetcher by scripts/lib/e2e.sh, with the run's CA).
        "client_id_metadata_documents": {"allowed_hosts": ["localhost"]},
    })
    email, password = "ada@acme.example", secrets.token_urlsafe(18)
    user = admin.call("POST", f"/tenants/{TENANT}/users",
                      {"email": email, "password": password, "display_name": "Ada Lovelace", "email_verified": True})
    user_id = user.get("id")
    if not user_id:
        raise RuntimeError(f"the admin API's user has no id: {user}")

    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    created = admin.call("POST", f"/tenants/{TENANT}/resource-servers",
                         {"resource": resource, "display_name": "Acme Widgets MCP", "scopes": RESOURCE_SCOPES, "default": True})
    challenge = created.get("www_authenticate")
    if not isinstance(challenge, str) or not isinstance(created.get("protected_resource_metadata"), dict):
        raise RuntimeError(f"the admin API's resource server lacks its metadata document or WWW-Authenticate: {created}")
    # RFC 9728 §3.2: the document exactly as the admin API produces it, bytes and all.
    document = admin.http.get(f"/tenants/{TENANT}/resource-servers/{created['id']}/protected-resource-metadata")
    if document.status_code != 200:
        raise RuntimeError(f"the admin API's metadata document answered {document.status_code}: {document.text}")
    prm = json.loads(document.content)
    if prm != created["protected_resource_metadata"]:
        raise RuntimeError(f"the metadata document {prm} differs from the one the resource server was created with")

    metadata_url = f"{base_url}/.well-known/oauth-authorization-server/t/{TENANT}"
    metadata = httpx2.get(metadata_url, timeout=30).json()
    issuer = metadata["issuer"]
    if created.get("issuer") != issuer:
        raise RuntimeError(f"the admin API names the issuer {created.get('issuer')}, the metadata {issuer}")
    # What the admin API tells the MCP server's operator is all the resource server is configured with.
    config = ResourceServerConfig(
        issuer=created["issuer"],
        resource=prm["resource"],
        jwks_uri=created["jwks_uri"],
        metadata_bytes=document.content,
        www_authenticate=challenge,
        metadata_path=metadata_path_from_challenge(challenge),
    )
    server = RunningResourceServer(config, port).__enter__()
    stack.append(lambda: server.__exit__(None, None, None))
    return Environment(base_url=base_url, issuer=issuer, tenant_name=TENANT_NAME, email=email, password=password,
                       user_id=user_id, resource=prm["resource"], resource_server=server, metadata=metadata,
                       access_token_lifetime=ACCESS_TOKEN_LIFETIME)


def check_published_documents(env: Environment) -> dict[str, Any]:
    """What the resource server publishes is what the admin API produced, and it points at the issuer."""
    with httpx2.Client(timeout=30) as http:
        unauthenticated = http.post(env.resource, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        if unauthenticated.status_code != 401:
            raise AssertionError(f"an unauthenticated call answered {unauthenticated.status_code}")
        challenge = unauthenticated.headers["www-authenticate"]
        if not challenge.startswith("Bearer ") or "resource_metadata=" not in challenge:
            raise AssertionError(f"WWW-Authenticate {challenge!r}")
        document = http.get(challenge.split('resource_metadata="', 1)[1].split('"', 1)[0]).json()
        if document.get("authorization_servers") != [env.issuer]:
            raise AssertionError(f"authorization_servers {document.get('authorization_servers')} is not [{env.issuer}]")
        if document.get("resource") != env.resource:
            raise AssertionError(f"resource {document.get('resource')} is not {env.resource}")
        for member in ("authorization_endpoint", "token_endpoint", "jwks_uri", "registration_endpoint"):
            if not env.metadata.get(member):
                raise AssertionError(f"authorization server metadata lacks {member}")
        if env.metadata.get("authorization_response_iss_parameter_supported") is not True:
            raise AssertionError("metadata lacks authorization_response_iss_parameter_supported: true")
    return {"resource": env.resource}


async def check_consent_denied(env: Environment) -> dict[str, Any]:
    """A person who denies consent sends the client back an RFC 6749 §4.1.2.1 error, with its state and
    the issuer (RFC 9207), and no code."""
    from forms import Browserless

    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    async with httpx2.AsyncClient(timeout=30) as http:
        registration = await http.post(env.registration_endpoint, json={
            "client_name": "Denied client", "redirect_uris": [redirect_uri], "token_endpoint_auth_method": "none"})
        if registration.status_code != 201:
            raise AssertionError(f"registration answered {registration.status_code}: {registration.text}")
        client_id = registration.json()["client_id"]
    state = secrets.token_urlsafe(12)
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "state": state,
             "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "code_challenge_method": "S256"}
    agent = Browserless(env.email, env.password, redirect_prefix=redirect_uri, deny=True)
    try:
        landed = await agent.authorize(f"{env.authorization_endpoint}?{httpx2.QueryParams(query)}")
    finally:
        await agent.aclose()
    answer = landed.query
    if answer.get("error") != "access_denied" or "code" in answer:
        raise AssertionError(f"denied consent came back as {answer}")
    if answer.get("state") != state or answer.get("iss") != env.issuer:
        raise AssertionError(f"denied consent lost its state or iss: {answer}")
    return {"error": answer["error"]}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--platform-key", required=True)
    parser.add_argument("--output", default=str(Path(__file__).resolve().parents[2] / ".build" / "test-output" / "e2e"))
    parser.add_argument("--only", nargs="*", default=None, help="harness names to run (default all)")
    parser.add_argument("--certificates", type=Path, required=True,
                        help="directory of document_server.py --make-certificate, whose CA the server trusts")
    args = parser.parse_args()

    cleanup: list[Callable[[], None]] = []
    passed = failed = 0
    try:
        env = prepare(args.base_url.rstrip("/"), args.platform_key, cleanup)

        from browser_flow import run_browser_flow
        from document_server import RunningDocumentServer
        from mcp_sdk_flow import run_sdk_flow

        documents = RunningDocumentServer(args.certificates, free_port()).__enter__()
        cleanup.append(lambda: documents.__exit__(None, None, None))

        async def sdk_clients() -> dict[str, Any]:
            # All three wait out the access token's lifetime at the same time.
            public, confidential, document = await asyncio.gather(
                run_sdk_flow(env, "none", free_port()),
                run_sdk_flow(env, "client_secret_basic", free_port()),
                run_sdk_flow(env, "none", free_port(), documents=documents))
            return {"public": public, "confidential": confidential, "metadata_document": document}

        harnesses: list[tuple[str, Callable[[], Any]]] = [
            ("published_documents", lambda: check_published_documents(env)),
            ("chromium_sign_in_and_consent", lambda: run_browser_flow(env, Path(args.output))),
            ("consent_denied_returns_access_denied", lambda: asyncio.run(check_consent_denied(env))),
            ("mcp_sdk_discovers_registers_or_uses_a_metadata_document_authorizes_refreshes", lambda: asyncio.run(sdk_clients())),
        ]
        for name, harness in harnesses:
            if args.only and name not in args.only:
                continue
            started = time.monotonic()
            try:
                facts = harness()
                passed += 1
                print(f"PASS {name} ({time.monotonic() - started:.1f}s) {json.dumps(facts)}", flush=True)
            except Exception:  # noqa: BLE001 (each harness reports its own failure and the next one runs)
                failed += 1
                print(f"FAIL {name} ({time.monotonic() - started:.1f}s)", flush=True)
                traceback.print_exc()
    except Exception:  # noqa: BLE001
        failed += 1
        print("FAIL setup", flush=True)
        traceback.print_exc()
    finally:
        for step in reversed(cleanup):
            step()
    print(f"e2e: {passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
