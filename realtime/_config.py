"""Connection configuration, and the handshake request every transport receives.

Building the URL and headers is plain code shared by every transport, so the rules (which query
parameter, which headers win, when a key must not travel in clear text) live here once.
"""

from __future__ import annotations

import inspect
import ipaddress
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ._errors import ConnError
from ._version import __version__

__all__ = ["DEFAULT_URL", "ConnectRequest", "ModelConfig", "build_request", "credentials"]

DEFAULT_URL = "wss://api.openai.com/v1/realtime"
AZURE_PATH = "/openai/v1/realtime"
_DEFAULT_ENDPOINT = ("wss", "api.openai.com", "/v1/realtime")
USER_AGENT = f"realtime-wire/{__version__}"

ApiKey = str | Callable[[], "str | Awaitable[str]"]

# Handshake headers that carry a credential: never sent in clear text to a remote host, never
# shown in an error or a recording.
CREDENTIAL_HEADERS = frozenset(
    {"authorization", "api-key", "openai-api-key", "proxy-authorization"}
)


@dataclass(frozen=True, repr=False)
class ModelConfig:
    """Where and how to connect.

    Args:
        api_key: The key, or a callable (sync or async) returning it, called at each connect.
            ``None`` reads ``OPENAI_API_KEY`` at connect time.
        url: The Realtime endpoint. ``ws``/``wss``/``http``/``https`` are accepted.
        headers: Extra handshake headers; they override the library's own. Credentials in
            them (``Authorization``, ``api-key``) get the same clear-text refusal as the key.
        call_id: Join an existing SIP/WebRTC call (sent as ``?call_id=`` instead of ``model``).
        allow_insecure: Allow sending credentials (the key, a credential header, a password
            in the URL) over ``ws://``/``http://`` to a non-loopback host.
        connect_timeout: Seconds for the whole handshake.
        close_timeout: Seconds to wait for the peer's close frame after ours.
        ping_interval: Seconds between keepalive pings; ``None`` disables keepalive.
        ping_timeout: Seconds to wait for a pong before the connection is declared dead.
        max_message_size: Largest incoming message, in characters (text) or bytes
            (binary); a larger one closes the connection with code 1009, stopped while it
            arrives, so that it bounds memory too. ``None`` disables the check.
        key_header: How the key is sent: ``"authorization"`` (``Authorization: Bearer
            <key>``, OpenAI) or ``"api-key"`` (``api-key: <key>``, Azure OpenAI).
        key_env: The environment variable read when ``api_key`` is ``None``.
    """

    api_key: ApiKey | None = None
    url: str = DEFAULT_URL
    headers: Mapping[str, str] = field(default_factory=dict)
    call_id: str | None = None
    allow_insecure: bool = False
    connect_timeout: float = 10.0
    close_timeout: float = 5.0
    ping_interval: float | None = 20.0
    ping_timeout: float = 20.0
    max_message_size: int | None = 16 * 1024 * 1024
    key_header: Literal["authorization", "api-key"] = "authorization"
    key_env: str = "OPENAI_API_KEY"

    @classmethod
    def azure(
        cls,
        endpoint: str,
        deployment: str,
        *,
        api_key: ApiKey | None = None,
        **options: Any,
    ) -> ModelConfig:
        """A configuration for Azure OpenAI's GA Realtime endpoint.

        The URL is ``wss://<resource>.openai.azure.com/openai/v1/realtime?model=<deployment>``
        and the key travels in the ``api-key`` header, with the same clear-text refusal and
        redaction as an OpenAI key.

        Args:
            endpoint: The resource URL (``https://<resource>.openai.azure.com``): ``https://``
                becomes ``wss://``, ``http://`` becomes ``ws://`` (which, with a key, is
                allowed for a loopback host only, unless ``allow_insecure=True``). A path up
                to ``/openai/v1/realtime`` may be included.
            deployment: The deployment name (sent as ``?model=``).
            api_key: The key, or a callable returning it; ``None`` reads
                ``AZURE_OPENAI_API_KEY`` at connect time.
            **options: Any other :class:`ModelConfig` field (``headers``, timeouts...).

        Raises:
            ValueError: ``endpoint`` is not an ``http(s)``/``ws(s)`` URL with a host, or
                ``deployment`` is empty.
        """
        parts = urlsplit(endpoint.strip())
        scheme = {"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme)
        if scheme not in ("ws", "wss") or not parts.netloc:
            raise ValueError(
                f"the Azure endpoint must be a resource URL such as "
                f"https://<resource>.openai.azure.com, not {endpoint!r}"
            )
        if not deployment:
            raise ValueError("the Azure deployment name must not be empty")
        path = parts.path.rstrip("/")
        for tail in (AZURE_PATH, "/openai/v1", "/openai"):
            if path.endswith(tail):
                path = path[: -len(tail)]
                break
        query = [*parse_qsl(parts.query, keep_blank_values=True), ("model", deployment)]
        url = urlunsplit((scheme, parts.netloc, path + AZURE_PATH, urlencode(query), ""))
        return cls(
            api_key=api_key,
            url=url,
            key_header="api-key",
            key_env="AZURE_OPENAI_API_KEY",
            **options,
        )

    def __repr__(self) -> str:
        # Never show the key or header values: they are credentials more often than not.
        key = "None" if self.api_key is None else "'***'"
        headers = "{" + ", ".join(f"{name!r}: '***'" for name in self.headers) + "}"
        return (
            f"ModelConfig(api_key={key}, url={self.url!r}, headers={headers}, "
            f"call_id={self.call_id!r}, allow_insecure={self.allow_insecure!r})"
        )


@dataclass(frozen=True, repr=False)
class ConnectRequest:
    """What a transport needs to open one connection.

    Attributes:
        url: The full URL, query included.
        headers: Handshake headers in order, with no duplicate names (case-insensitive).
        connect_timeout: Seconds for the whole handshake.
        close_timeout: Seconds to wait for the peer's close frame.
        max_message_size: Largest incoming message, in characters (text) or bytes (binary),
            or ``None`` for no limit. A transport stops a larger message while it arrives,
            before it is buffered whole: it sends close 1009 to the peer and ``receive``
            returns ``Close(1009, reason)``.
    """

    url: str
    headers: tuple[tuple[str, str], ...]
    connect_timeout: float = 10.0
    close_timeout: float = 5.0
    max_message_size: int | None = None

    def __repr__(self) -> str:
        names = ", ".join(name for name, _ in self.headers)
        return f"ConnectRequest(url={self.url!r}, headers=[{names}])"


async def _resolve_key(config: ModelConfig) -> str | None:
    key: object = config.api_key
    if key is None:
        return os.environ.get(config.key_env) or None
    if callable(key):
        key = key()
        if inspect.isawaitable(key):
            key = await key
    if not isinstance(key, str):
        raise ConnError(f"api_key must be a str or return one, not {type(key).__name__}")
    return key


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def credentials(headers: Iterable[tuple[str, str]]) -> tuple[str, ...]:
    """The credential values among handshake ``headers``, to mask wherever text may show them:
    each credential header's value, or its token alone when it has a scheme (``Bearer <token>``:
    masked as ``Bearer ***``)."""
    found: list[str] = []
    for name, value in headers:
        if _is_credential(name) and value.strip():
            _, _, token = value.strip().partition(" ")
            found.append(token.strip() or value.strip())
    return tuple(found)


def _is_credential(name: str) -> bool:
    return name.lower() in CREDENTIAL_HEADERS


def _check_header(name: str, value: str) -> None:
    # A key read from a file or an environment variable often ends with a newline; sent, it
    # would split the request, and every HTTP library echoes the bad value in its error.
    if any(ch in value for ch in "\r\n\0") or any(ch in name for ch in "\r\n\0:"):
        what = "the API key" if name.lower() == "authorization" else f"header {name!r}"
        raise ConnError(f"{what} contains a line break or NUL character: check its value")


async def build_request(
    config: ModelConfig, model: str | None, *, translation: bool = False
) -> ConnectRequest:
    """Build the handshake request for ``config``: URL with query, headers, timeouts.

    With ``translation``, the URL names the live translation endpoint: ``<url>/translations``.

    Raises:
        ConnError: The URL is not a WebSocket or HTTP URL, the key is of the wrong type, no
            key at all is given for the OpenAI service's URL, a header holds a line break, or
            a credential (the key, an ``Authorization`` or ``api-key`` header, a password in
            the URL) would travel in clear text to a host that is not loopback.
    """
    parts = urlsplit(config.url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss"):
        raise ConnError(f"unsupported URL scheme {parts.scheme!r}: use ws, wss, http or https")
    key = await _resolve_key(config)
    if (
        not key
        and (scheme, parts.hostname, parts.path.rstrip("/")) == _DEFAULT_ENDPOINT
        and not any(_is_credential(name) for name in config.headers)
    ):
        # The service would refuse the session after the handshake; say why before it.
        raise ConnError("no API key: set OPENAI_API_KEY or pass api_key=")
    if scheme == "ws" and not config.allow_insecure and not _is_loopback(parts.hostname):
        what = [f"the {name} header" for name in config.headers if _is_credential(name)]
        if parts.password:
            what.insert(0, "the password in the URL")
        if key:
            what.insert(0, "the API key")
        if what:
            raise ConnError(
                f"refusing to send {what[0]} in clear text to {parts.hostname!r}: use wss://, "
                "or pass ModelConfig(allow_insecure=True)"
            )
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    present = {k for k, _ in query}
    if config.call_id is not None:
        if "call_id" not in present:
            query.append(("call_id", config.call_id))
    elif model is not None and "model" not in present:
        query.append(("model", model))
    path = parts.path
    if translation and not path.rstrip("/").endswith("/translations"):
        path = path.rstrip("/") + "/translations"
    url = urlunsplit((scheme, parts.netloc, path, urlencode(query), parts.fragment))

    headers: dict[str, tuple[str, str]] = {}
    if key and config.key_header == "api-key":
        headers["api-key"] = ("api-key", key)
    elif key:
        headers["authorization"] = ("Authorization", f"Bearer {key}")
    headers["user-agent"] = ("User-Agent", USER_AGENT)
    for name, value in config.headers.items():
        headers[name.lower()] = (name, value)
    for name, value in headers.values():
        _check_header(name, value)
    return ConnectRequest(
        url=url,
        headers=tuple(headers.values()),
        connect_timeout=config.connect_timeout,
        close_timeout=config.close_timeout,
        max_message_size=config.max_message_size,
    )


def redacted_url(url: str) -> str:
    # A URL may carry credentials in its userinfo; events must never show them.
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
