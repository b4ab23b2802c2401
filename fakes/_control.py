"""The control plane: plain HTTP under ``/_fake/`` that scripts, inspects, breaks, checks and
resets a served fake, so that a test suite in any language can drive it.

It is served on the same host and port as the WebSocket (``fake.serve()`` and
``realtime fake serve`` alike). JSON in, JSON out:

=======================  =======================================================================
``POST /_fake/script``   a JSON list of STEPs → ``200 {"queued": n}``
``POST /_fake/rules``    ``{"when": {...}, "reply": STEP, "times"?: n}`` → ``200 {"rules": n}``
``GET /_fake/journal``   every kept connection (``path``, ``query``, ``headers``, ``received``,
                         ``sent``, ``closed``) and the plain HTTP requests served (``http``)
``POST /_fake/faults``   ``{"close": {...}}``, ``{"drop": {}}``, ``{"raw": "..."}``,
                         ``{"expire_after": s}`` or ``{"latency": s}`` → ``200``
``GET /_fake/check``     ``200 {"ok": true}`` or ``409 {"ok": false, "failures", "unused"}``
``POST /_fake/reset``    script, rules, journal, failures and faults cleared → ``200``
=======================  =======================================================================

``POST /_fake/mcp_servers`` with ``{"server_label", "tools": [...], "fail"?}`` plays a remote MCP
server, as ``fake.mcp_server(...)`` does → ``200 {"mcp_servers": n}``.

A bad body answers ``400 {"error": "..."}`` naming the problem; another path ``404``, another
method ``405``. It knows the fake only as a :class:`ControlledFake`: the server module, above it,
provides one.
"""

from __future__ import annotations

import json
import math
from typing import Any, Protocol

from ._script import Rule, Script, Transcript
from ._serve import HttpRequest, HttpResponse
from ._steps import StepError, parse_rule, parse_step

__all__ = ["CONTROL_PREFIX", "ControlPlane", "ControlledFake", "json_response"]

CONTROL_PREFIX = "/_fake/"


class ControlledFake(Protocol):
    """What the control plane needs of the fake (``FakeRealtimeServer`` provides it)."""

    script: Script
    latency: float

    def journal(self) -> dict[str, Any]: ...

    def check_report(self) -> tuple[list[str], list[Any]]: ...

    def reset(self) -> None: ...

    def expire_sessions_after(self, seconds: float) -> None: ...

    def mcp_server(
        self,
        server_label: str,
        tools: list[dict[str, Any]] | tuple[dict[str, Any], ...] = (),
        *,
        fail: str | bool | None = None,
    ) -> None: ...

    async def close_connections(self, code: int = 1000, reason: str = "") -> None: ...

    async def drop_connections(self) -> None: ...

    async def send_raw(self, text: str) -> None: ...


class _BadRequestError(Exception):
    """The request cannot be served; the message names the problem."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def json_response(status: int, body: object) -> HttpResponse:
    return HttpResponse(status, json.dumps(body).encode())


def _body(request: HttpRequest) -> Any:
    if not request.body:
        raise _BadRequestError("the request has no body: send JSON")
    try:
        return json.loads(request.body.decode("utf-8"))
    except UnicodeDecodeError:
        raise _BadRequestError("the body is not UTF-8 JSON") from None
    except ValueError as exc:
        raise _BadRequestError(f"the body is not JSON: {exc}") from None
    except RecursionError:
        raise _BadRequestError("the body is nested too deeply") from None


def _seconds(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _BadRequestError(f"{what}: expected a number of seconds")
    if value < 0:
        raise _BadRequestError(f"{what}: expected 0 or more seconds, got {value}")
    return float(value)


class ControlPlane:
    """Answers the control plane's HTTP requests for one fake.

    Args:
        fake: The fake it drives.
        api_key: When given, every request must carry ``Authorization: Bearer <api_key>`` (a
            fake served beyond loopback); otherwise (loopback) it is open.
    """

    def __init__(self, fake: ControlledFake, *, api_key: str | None = None) -> None:
        self.fake = fake
        self.api_key = api_key

    def _authorized(self, request: HttpRequest) -> bool:
        if self.api_key is None:
            return True
        scheme, _, key = request.header("authorization").partition(" ")
        return scheme.lower() == "bearer" and key.strip() == self.api_key

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        """Answer one request under ``/_fake/``."""
        if not self._authorized(request):
            return json_response(
                401, {"error": "the control plane needs 'Authorization: Bearer <the --api-key>'"}
            )
        routes = {
            ("POST", "script"): self._script,
            ("POST", "rules"): self._rules,
            ("POST", "mcp_servers"): self._mcp_servers,
            ("GET", "journal"): self._journal,
            ("POST", "faults"): self._faults,
            ("GET", "check"): self._check,
            ("POST", "reset"): self._reset,
        }
        name = request.path.removeprefix(CONTROL_PREFIX).rstrip("/")
        route = routes.get((request.method, name))
        if route is None:
            methods = sorted(m for m, n in routes if n == name)
            if methods:
                return json_response(
                    405, {"error": f"{request.method} {request.path}: use {methods[0]}"}
                )
            paths = ", ".join(f"{m} {CONTROL_PREFIX}{n}" for m, n in routes)
            return json_response(404, {"error": f"no such path: {request.path} (paths: {paths})"})
        try:
            return await route(request)
        except _BadRequestError as exc:
            return json_response(exc.status, {"error": str(exc)})
        except StepError as exc:
            return json_response(400, {"error": str(exc)})

    async def _script(self, request: HttpRequest) -> HttpResponse:
        steps = _body(request)
        if not isinstance(steps, list):
            raise _BadRequestError(
                'POST /_fake/script takes a JSON list of STEPs, e.g. [{"text": "Hi"}]'
            )
        parsed = [parse_step(step, f"[{i}]") for i, step in enumerate(steps)]
        script = self.fake.script
        for step in parsed:
            if isinstance(step, Transcript):
                script.transcripts.append(step)
            else:
                script.replies.append(step)
        return json_response(200, {"queued": len(parsed)})

    async def _rules(self, request: HttpRequest) -> HttpResponse:
        rule: Rule = parse_rule(_body(request), "the rule")
        self.fake.script.rules.append(rule)
        return json_response(200, {"rules": len(self.fake.script.rules)})

    async def _mcp_servers(self, request: HttpRequest) -> HttpResponse:
        given = _body(request)
        if not isinstance(given, dict) or not isinstance(given.get("server_label"), str):
            raise _BadRequestError(
                'POST /_fake/mcp_servers takes {"server_label": str, "tools": [{"name": str, '
                '"description"?: str, "input_schema"?: object}], "fail"?: str | bool}'
            )
        unknown = sorted(set(given) - {"server_label", "tools", "fail"})
        if unknown:
            raise _BadRequestError(f"mcp_servers: unknown key {unknown[0]!r}")
        fail = given.get("fail")
        if fail is not None and not isinstance(fail, (str, bool)):
            raise _BadRequestError("mcp_servers.fail: expected a string or a boolean")
        try:
            self.fake.mcp_server(given["server_label"], given.get("tools", []), fail=fail)
        except (TypeError, ValueError) as exc:
            raise _BadRequestError(f"mcp_servers.tools: {exc}") from None
        return json_response(200, {"mcp_servers": len(self.fake.script.mcp_servers)})

    async def _journal(self, request: HttpRequest) -> HttpResponse:
        return json_response(200, self.fake.journal())

    async def _faults(self, request: HttpRequest) -> HttpResponse:
        fault = _body(request)
        kinds = ("close", "drop", "raw", "expire_after", "latency")
        if not isinstance(fault, dict) or len(fault) != 1 or next(iter(fault)) not in kinds:
            raise _BadRequestError(
                "a fault is one of {'close': {'code': int, 'reason'?: str}}, {'drop': {}}, "
                "{'raw': str}, {'expire_after': seconds}, {'latency': seconds}"
            )
        kind, value = next(iter(fault.items()))
        if kind == "close":
            code, reason = _close_fault(value)
            await self.fake.close_connections(code, reason)
        elif kind == "drop":
            if value not in ({}, None):
                raise _BadRequestError("drop takes no options: {'drop': {}}")
            await self.fake.drop_connections()
        elif kind == "raw":
            if not isinstance(value, str):
                raise _BadRequestError("raw: expected the text frame to send, as a string")
            await self.fake.send_raw(value)
        elif kind == "expire_after":
            self.fake.expire_sessions_after(_seconds(value, "expire_after"))
        else:
            self.fake.latency = _seconds(value, "latency")
        return json_response(200, {"applied": kind})

    async def _check(self, request: HttpRequest) -> HttpResponse:
        failures, unused = self.fake.check_report()
        if failures or unused:
            return json_response(409, {"ok": False, "failures": failures, "unused": unused})
        return json_response(200, {"ok": True})

    async def _reset(self, request: HttpRequest) -> HttpResponse:
        self.fake.reset()
        return json_response(200, {"reset": True})


def _close_fault(value: object) -> tuple[int, str]:
    if not isinstance(value, dict) or set(value) - {"code", "reason"}:
        raise _BadRequestError("close: expected {'code': int, 'reason'?: str}")
    code = value.get("code", 1000)
    reason = value.get("reason", "")
    if isinstance(code, bool) or not isinstance(code, int):
        raise _BadRequestError("close.code: expected an integer")
    # The codes an endpoint may send (RFC 6455 7.4): 1005, 1006 and 1015 are never on the wire.
    if not (1000 <= code <= 1014 or 3000 <= code <= 4999) or code in (1004, 1005, 1006):
        raise _BadRequestError(f"close.code: {code} cannot be sent in a close frame")
    if not isinstance(reason, str):
        raise _BadRequestError("close.reason: expected a string")
    if len(reason.encode()) > 123:
        raise _BadRequestError("close.reason: at most 123 bytes (UTF-8) fit in a close frame")
    return code, reason
