"""The demo's stand-in for the person at the keyboard: it opens a sandbox consent page and presses Allow.

Everything else in a connect is the product's real flow: the authorization URL mailtrail makes, the
provider's redirect (Google) or form POST (Microsoft, ``response_mode=form_post``) back to mailtrail's own
callback, the code exchange and the stored grant.
"""

from __future__ import annotations

import html
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx


class _Form(HTMLParser):
    """The first form of a page: its action and its fields (hidden inputs)."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self._in_form = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form" and self.action is None:
            self.action, self._in_form = values.get("action", ""), True
        elif tag == "input" and self._in_form and values.get("type") == "hidden" and values.get("name"):
            self.fields[values["name"]] = html.unescape(values.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False


def read_form(page: str) -> _Form:
    form = _Form()
    form.feed(page)
    return form


def allow_google(http: httpx.Client, authorization_url: str, user: str) -> httpx.Response:
    """Sign in as ``user`` on the Gmail sandbox's consent page, press Allow, follow the redirect to the app's
    callback; returns the callback's answer."""
    page = http.get(authorization_url)
    page.raise_for_status()
    form = read_form(page.text)
    target = urljoin(authorization_url, form.action or urlsplit(authorization_url).path)
    return http.post(target, data={**form.fields, "user": user}, follow_redirects=True)


def allow_microsoft(http: httpx.Client, authorization_url: str, user: str) -> httpx.Response:
    """Sign in as ``user`` on the Graph sandbox's consent page, press Accept, and send the answer the identity
    platform hands back (a form to POST) to the app's callback; returns the callback's answer."""
    page = http.get(authorization_url)
    page.raise_for_status()
    consent = read_form(page.text)
    here = urlsplit(authorization_url)._replace(query="").geturl()
    answer = http.post(here, data={**consent.fields, "user": user, "decision": "accept"})
    answer.raise_for_status()
    posted = read_form(answer.text)
    if not posted.action:
        raise RuntimeError("the Microsoft sandbox answered without a form to post back")
    return http.post(posted.action, data=posted.fields)
