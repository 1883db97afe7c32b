"""Seeds scripts/bench's authorization-server figures through the real endpoints (standard library only).

    python3 scripts/load/oauth_seed.py BASE_URL PLATFORM_KEY TENANT OUT_DIR REFRESH_TOKENS

Creates a user and a resource server (admin API), registers a public client the way Claude Code
does, signs in and consents once through the real forms, then asks `/authorize` for
REFRESH_TOKENS + 13 codes with the remembered consent (each answer is a 302 with a fresh code, no
page) and exchanges them for tokens. Writes OUT_DIR/refresh.txt (REFRESH_TOKENS refresh tokens for
scripts/load/refresh.lua), refresh-rest-N.txt and refresh-flood-N.txt for N = 1, 2, 3 (two tokens
each: one connection, see refresh.lua) and OUT_DIR/env
(shell assignments: the client, its redirect URI and PKCE verifier, the authorization URL and
the session cookie for more codes, an access token for /userinfo, the resource server's
credentials for /introspect).
"""

from __future__ import annotations

import base64
import hashlib
import http.cookiejar
import json
import secrets
import shlex
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "e2e"))
from html_forms import parse, submission  # noqa: E402


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003
        return None


def opener(jar: http.cookiejar.CookieJar) -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(NoRedirect, urllib.request.HTTPCookieProcessor(jar))


def send(agent: urllib.request.OpenerDirector, url: str, data: dict[str, str] | bytes | None = None,
         headers: dict[str, str] | None = None, method: str | None = None) -> tuple[int, dict[str, str], bytes]:
    body = urllib.parse.urlencode(data).encode() if isinstance(data, dict) else data
    request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    if isinstance(data, dict):
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with agent.open(request, timeout=30) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def admin(base: str, key: str, method: str, path: str, body: object) -> dict:
    status, _, content = send(urllib.request.build_opener(), f"{base}/admin/v1{path}", json.dumps(body).encode(),
                              {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}, method)
    if status not in (200, 201):
        sys.exit(f"admin API {method} {path} answered {status}: {content[:300]!r}")
    return json.loads(content)


def main() -> None:
    base, key, tenant, out, refresh_count = sys.argv[1:6]
    out_dir = Path(out)
    issuer = f"{base}/t/{tenant}"
    metadata = json.loads(urllib.request.urlopen(f"{base}/.well-known/oauth-authorization-server/t/{tenant}").read())
    for member, path in (("authorization_endpoint", "/authorize"), ("token_endpoint", "/token"),
                         ("jwks_uri", "/jwks.json"), ("userinfo_endpoint", "/userinfo"),
                         ("introspection_endpoint", "/introspect")):
        metadata.setdefault(member, issuer + path)  # the figures measure endpoints, not the document

    email, password = "bench@example.test", secrets.token_urlsafe(18)
    admin(base, key, "POST", f"/tenants/{tenant}/users", {"email": email, "password": password, "display_name": "Bench"})
    resource = "https://mcp.bench.example/mcp"
    created = admin(base, key, "POST", f"/tenants/{tenant}/resource-servers",
                    {"resource": resource, "display_name": "Bench MCP", "scopes": ["mcp:tools"]})
    rs_id, rs_secret = created.get("id"), created.get("credential")
    if not isinstance(rs_id, str) or not isinstance(rs_secret, str):
        sys.exit(f"the resource server has no credentials for introspection: {created}")

    redirect_uri = "http://127.0.0.1:33418/callback"
    status, _, content = send(urllib.request.build_opener(), metadata["registration_endpoint"], json.dumps({
        "client_name": "Claude Code (bench)", "redirect_uris": [redirect_uri], "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"]}).encode(),
        {"Content-Type": "application/json"})
    if status != 201:
        sys.exit(f"registration answered {status}: {content[:300]!r}")
    client_id = json.loads(content)["client_id"]

    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    authorize = metadata["authorization_endpoint"] + "?" + urllib.parse.urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "state": "bench",
        "code_challenge": challenge, "code_challenge_method": "S256", "scope": "openid email offline_access",
        "resource": resource})

    jar = http.cookiejar.CookieJar()
    agent = opener(jar)

    def code_from(location: str) -> str | None:
        if not location.startswith(redirect_uri):
            return None
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
        return query.get("code", [None])[0]

    # Sign in and consent once, as a person would.
    url, data = authorize, None
    for _ in range(10):
        status, headers, content = send(agent, url, data)
        if status in (302, 303):
            location = urllib.parse.urljoin(url, headers["location"])
            if code_from(location):
                break
            url, data = location, None
            continue
        if status != 200:
            sys.exit(f"{url} answered {status}: {content[:300]!r}")
        form = next(f for f in parse(content.decode()).forms if f.method == "post")
        _, data = submission(form, email, password)
        url = urllib.parse.urljoin(url, form.action or url)
    else:
        sys.exit("no code after signing in and consenting")

    # A code per token wanted; scripts/bench asks for the many codes it exchanges with wrk
    # (scripts/load/authorize.lua), with this session's cookie.
    codes: list[str] = []
    for _ in range(int(refresh_count) + 13):
        status, headers, _ = send(agent, authorize)
        code = code_from(headers.get("location", "")) if status in (302, 303) else None
        if code is None:
            sys.exit(f"/authorize with a session and remembered consent answered {status} {headers.get('location')}")
        codes.append(code)
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar if urllib.parse.urlsplit(issuer).path.startswith(c.path or "/"))

    def exchange(code: str) -> dict:
        status, _, content = send(urllib.request.build_opener(), metadata["token_endpoint"], {
            "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "client_id": client_id,
            "code_verifier": verifier})
        if status != 200:
            sys.exit(f"code exchange answered {status}: {content[:300]!r}")
        return json.loads(content)

    # Separate tokens for each refresh run (a rotated token is spent) and for /userinfo and /introspect.
    tokens = [exchange(codes.pop()) for _ in range(int(refresh_count) + 13)]
    if any("refresh_token" not in t for t in tokens):
        sys.exit(f"no refresh token with offline_access: {tokens[0]}")
    chunks = [("refresh.txt", tokens[:int(refresh_count)])]
    for round_number in (1, 2, 3):
        start = int(refresh_count) + (round_number - 1) * 4
        chunks += [(f"refresh-rest-{round_number}.txt", tokens[start:start + 2]),
                   (f"refresh-flood-{round_number}.txt", tokens[start + 2:start + 4])]
    for name, chunk in chunks:
        (out_dir / name).write_text("\n".join(t["refresh_token"] for t in chunk) + "\n")
    values = {"CLIENT_ID": client_id, "REDIRECT_URI": redirect_uri, "VERIFIER": verifier, "ISSUER": issuer,
              "ACCESS_TOKEN": tokens[-1]["access_token"], "RS_ID": rs_id, "RS_SECRET": rs_secret,
              "AUTHORIZE_URL": authorize, "COOKIE": cookie, "TOKEN_ENDPOINT": metadata["token_endpoint"],
              "USERINFO_ENDPOINT": metadata["userinfo_endpoint"],
              "INTROSPECTION_ENDPOINT": metadata["introspection_endpoint"],
              "JWKS_URI": metadata["jwks_uri"],
              "CODE_BODY_PREFIX": urllib.parse.urlencode({"grant_type": "authorization_code", "client_id": client_id,
                                                          "redirect_uri": redirect_uri, "code_verifier": verifier}) + "&code=",
              "REFRESH_BODY_PREFIX": urllib.parse.urlencode({"grant_type": "refresh_token", "client_id": client_id})
                                     + "&refresh_token=",
              "INTROSPECT_AUTHORIZATION": "Basic " + base64.b64encode(
                  f"{urllib.parse.quote(rs_id, safe='')}:{urllib.parse.quote(rs_secret, safe='')}".encode()).decode()}
    (out_dir / "env").write_text("".join(f"{k}={shlex.quote(v)}\n" for k, v in values.items()))


if __name__ == "__main__":
    main()
