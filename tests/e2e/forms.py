"""A person at a browser without JavaScript, in plain HTTP: follows redirects within the issuer,
fills in the sign-in form, approves the consent form, and stops at the client's redirect URI.

Every form is read from the page the server rendered (all its fields, the CSRF token included)
and posted as a browser would post it, with the cookies the server set (see `html_forms`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx2

from html_forms import parse, submission


@dataclass
class Redirect:
    """Where the authorization server sent the browser at last: the client's redirect URI."""

    url: str

    @property
    def query(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(self.url).query).items()}


@dataclass
class Visit:
    """What happened on the way, for the test's assertions."""

    pages: list[tuple[str, int, str]] = field(default_factory=list)  # (url, status, kind)
    sign_in_posts: int = 0
    consent_posts: int = 0


class Browserless:
    """A cookie-keeping HTTP user agent that signs in and consents like a person would."""

    def __init__(self, email: str, password: str, redirect_prefix: str, deny: bool = False):
        self.email = email
        self.password = password
        self.redirect_prefix = redirect_prefix
        self.deny = deny
        self.client = httpx2.AsyncClient(follow_redirects=False, timeout=30)
        self.visit = Visit()

    async def aclose(self) -> None:
        await self.client.aclose()

    async def authorize(self, url: str, max_steps: int = 12) -> Redirect:
        """Starts at the authorization URL and returns the redirect to the client."""
        method, data = "GET", None
        for _ in range(max_steps):
            if url.startswith(self.redirect_prefix):
                return Redirect(url)
            if method == "GET":
                response = await self.client.get(url)
            else:
                response = await self.client.post(url, data=data)
            if response.status_code in (301, 302, 303, 307, 308):
                self.visit.pages.append((url, response.status_code, "redirect"))
                url = urljoin(url, response.headers["location"])
                method, data = "GET", None
                continue
            body = response.text
            if response.status_code != 200 or "text/html" not in response.headers.get("content-type", ""):
                raise AssertionError(f"{method} {url} answered {response.status_code}: {body[:500]}")
            page = parse(body)
            forms = [f for f in page.forms if f.method == "post"]
            if not forms:
                raise AssertionError(f"{url}: a page with no form to submit: {body[:500]}")
            form = forms[0]
            kind, fields = submission(form, self.email, self.password, self.deny)
            self.visit.pages.append((url, 200, kind))
            if kind == "sign-in":
                self.visit.sign_in_posts += 1
            else:
                self.visit.consent_posts += 1
            url = urljoin(url, form.action or url)
            method, data = "POST", fields
        raise AssertionError(f"no redirect to {self.redirect_prefix} after {max_steps} steps: {self.visit.pages}")
