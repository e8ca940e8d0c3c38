"""A requests.Session for one API's calls, without the per-call work such calls do not need.

Session.request merges cookies, settings, hooks and environment (proxies, .netrc) into every
call, parses and re-quotes the URL, and after the answer extracts its cookies into a jar and
looks for a redirect: about 40% of a POS call's CPU in the web process (bench/instructions.py).
The POS API (pos-api.md) has none of them: a Bearer token, JSON bodies, no cookies, no
redirects. `LeanSession.request` builds the PreparedRequest with requests' own prepare steps
(method, headers checked as requests checks them, body and Content-Length), its URL prepared
once per distinct URL, and sends it through the mounted HTTPAdapter. A redirect is not followed:
a 3xx reaches the caller as the answer it is (an unexpected one, for the POS adapter). A call
with any other keyword (files, json, auth, cookies, stream, ...) takes requests' full path.
"""

from __future__ import annotations

from typing import Any, cast

from requests import PreparedRequest, Response, Session
from requests.hooks import default_hooks

URLS_MAX = 256  # prepared URLs kept (a lookup's query string varies: those are not kept)
LEAN = frozenset(("params", "data", "headers", "timeout"))


class LeanSession(Session):
    def __init__(self) -> None:
        super().__init__()
        self._urls: dict[str, str] = {}

    def _url(self, url: str, params: object) -> str:
        if params:
            prepared = PreparedRequest()
            prepared.prepare_url(url, params)
            return cast(str, prepared.url)  # prepare_url sets it
        known = self._urls.get(url)
        if known is None:
            prepared = PreparedRequest()
            prepared.prepare_url(url, None)
            if len(self._urls) >= URLS_MAX:
                self._urls.clear()
            known = self._urls[url] = cast(str, prepared.url)
        return known

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Response:
        if (
            not isinstance(url, str)  # bytes: requests' own path decodes it
            or args
            or not LEAN.issuperset(kwargs)
            or self.trust_env
            or self.cookies
            or self.auth
            or self.proxies
            or "@" in url
        ):  # credentials in the URL: requests' own path applies them, as before
            return super().request(method, url, *args, **kwargs)
        prepared = PreparedRequest()
        prepared.prepare_method(method)
        prepared.url = self._url(url, kwargs.get("params"))
        headers = kwargs.get("headers")
        prepared.prepare_headers({**self.headers, **headers} if headers else self.headers)
        prepared.prepare_body(kwargs.get("data"), None)
        prepared.hooks = default_hooks()
        adapter = self.get_adapter(prepared.url)
        verify = cast("bool | str", self.verify)  # Session.verify is typed Optional: passed on as it is
        return adapter.send(
            prepared, stream=False, timeout=kwargs.get("timeout"), verify=verify, cert=self.cert, proxies={}
        )
