"""Bitcoin Core's JSON-RPC, as it documents it: a POST with basic auth of ``{"jsonrpc": "1.0",
"id", "method", "params"}``, answered by ``{"result", "error", "id"}``.

One client for everything that asks the node (the network poller, stratum's block templates
and ``submitblock``), so that credentials, error answers and the scrubbing of secrets are
handled in one place.

Why it is built this way:
- Answers are parsed with ``Decimal`` for floats: a difficulty keeps every digit the node sent.
- A refusal (HTTP 401, an error object, an answer that is not JSON-RPC) is an ``RpcError``;
  a transport failure (connection refused, timeout) stays httpx's ``TransportError``, so
  callers can retry what may succeed on a second try and nothing else.
- The password (given, or inside the URL) never leaves this module: ``where`` names the node
  without it, and ``scrub`` removes it from any text before it is logged.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import httpx

from poolstats.config import Settings

REQUEST_TIMEOUT_S = 10.0


class RpcError(Exception):
    """The node refused or answered with an error object (``code`` is Bitcoin Core's)."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message if code is None else f"{message} (code {code})")
        self.code = code


class RpcClient:
    def __init__(self, url: str, user: str, password: str, client: httpx.AsyncClient) -> None:
        self._url = url
        self._auth = httpx.BasicAuth(user, password)
        self._client = client
        self._ids = itertools.count(1)
        self._secrets = [password] if password else []
        try:
            parsed = httpx.URL(url)
            self._secrets += [parsed.password] if parsed.password else []
            self.where = f"{parsed.scheme}://{parsed.host}:{parsed.port or ''}".rstrip(":")
        except httpx.InvalidURL:
            self.where = "bitcoind (invalid bitcoind_url)"

    @classmethod
    def from_settings(cls, settings: Settings, client: httpx.AsyncClient) -> RpcClient:
        """The node of ``bitcoind_url`` with ``bitcoind_user`` and ``bitcoind_password``."""
        s = settings
        return cls(s.bitcoind_url, s.bitcoind_user, s.bitcoind_password, client)

    async def call(
        self, method: str, params: list[Any], timeout: float | None = REQUEST_TIMEOUT_S
    ) -> Any:
        """The call's ``result``; ``RpcError`` if the node refused it (``timeout`` None: wait
        as long as the node takes, for a long poll)."""
        request_id = next(self._ids)
        body = {"jsonrpc": "1.0", "id": request_id, "method": method, "params": params}
        response = await self._client.post(self._url, json=body, auth=self._auth, timeout=timeout)
        if response.status_code == 401:
            raise RpcError(f"{method}: the node refused the credentials (HTTP 401)")
        try:
            answer = response.json(parse_float=Decimal)
        except ValueError as exc:
            raise RpcError(f"{method}: HTTP {response.status_code}, not a JSON answer") from exc
        if not isinstance(answer, dict):
            raise RpcError(f"{method}: HTTP {response.status_code}, not a JSON-RPC answer")
        error = answer.get("error")
        if error is not None:
            message = error.get("message", error) if isinstance(error, dict) else error
            code = error.get("code") if isinstance(error, dict) else None
            raise RpcError(f"{method}: {message}", code)
        if response.status_code != 200 or answer.get("id") != request_id:
            raise RpcError(f"{method}: HTTP {response.status_code}, id {answer.get('id')!r}")
        return answer["result"]

    def scrub(self, text: str) -> str:
        """``text`` with the node's password replaced by ``***``."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def describe(self, exc: BaseException) -> str:
        """An exception as a log line names it: its type and its scrubbed message."""
        return f"{type(exc).__name__}: {self.scrub(str(exc))}"
