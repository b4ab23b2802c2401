"""Outside clients against a fake served on 127.0.0.1: the official ``openai`` SDK (asyncio only),
and the ``realtime`` command run in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

ROOT = Path(__file__).resolve().parent.parent

# The official SDK and the agents libraries built on it run on asyncio only.
asyncio_only = pytest.mark.parametrize("anyio_backend", ["asyncio"])


# -- the official SDK ------------------------------------------------------------------------


def sdk_client(url: str, api_key: str = "sk-test") -> Any:
    """An ``openai.AsyncOpenAI`` whose WebSocket and HTTP calls both go to the fake at ``url``
    (its ``/v1/realtime`` URL); the test is skipped where the SDK is not installed."""
    openai = pytest.importorskip("openai")
    base = url.removesuffix("/realtime")
    return openai.AsyncOpenAI(
        api_key=api_key, base_url="http" + base.removeprefix("ws"), websocket_base_url=base
    )


def sdk_connect(url: str, api_key: str = "sk-test", **options: Any) -> Any:
    """The SDK's ``realtime.connect(model="gpt-realtime", **options)`` to the fake at ``url``:
    an async context manager giving the SDK's connection."""
    return sdk_client(url, api_key).realtime.connect(model="gpt-realtime", **options)


@asynccontextmanager
async def sdk_session(
    url: str, api_key: str = "sk-test", timeout: float = 10, **options: Any
) -> AsyncIterator[Any]:
    """:func:`sdk_connect` whose whole use, connecting included, must be done within
    ``timeout`` seconds."""
    with anyio.fail_after(timeout):
        async with sdk_connect(url, api_key, **options) as connection:
            yield connection


@asynccontextmanager
async def agents_session(
    url: str, agent: Any, config: Any = None, timeout: float = 15
) -> AsyncIterator[Any]:
    """An openai-agents ``RealtimeSession`` running ``agent`` (with the run ``config``) against
    the fake at ``url``; all of it must be done within ``timeout`` seconds. The caller
    imports ``agents`` (or skips) first."""
    from agents.realtime import RealtimeRunner

    runner = RealtimeRunner(agent, config=config)
    with anyio.fail_after(timeout):
        session = await runner.run(model_config={"url": url, "api_key": "sk-test"})
        async with session:
            yield session


def raw_server_event(event: Any) -> dict[str, Any]:
    """The server event an openai-agents session event passes on unparsed, else ``{}``."""
    if event.type == "raw_model_event" and event.data.type == "raw_server_event":
        return dict(event.data.data)
    return {}


async def until(connection: Any, event_type: str) -> list[Any]:
    """The SDK connection's events up to and including the first of ``event_type``."""
    seen = []
    async for event in connection:
        seen.append(event)
        if event.type == event_type:
            return seen
    raise AssertionError(f"the connection ended before {event_type}: {[e.type for e in seen]}")


async def text_only(connection: Any, *tools: Mapping[str, Any]) -> None:
    """Ask for text replies (and offer ``tools``, if any) with one ``session.update``."""
    session: dict[str, Any] = {"type": "realtime", "output_modalities": ["text"]}
    if tools:
        session["tools"] = list(tools)
    await connection.session.update(session=session)


def user_text(text: str) -> dict[str, Any]:
    """A user message item holding ``text``."""
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def call_output(call_id: str, output: str) -> dict[str, Any]:
    """A ``function_call_output`` item answering the function call ``call_id``."""
    return {"type": "function_call_output", "call_id": call_id, "output": output}


def mcp_approval(request_id: str, item_id: str, approve: bool = True) -> dict[str, Any]:
    """An ``mcp_approval_response`` item answering the approval request ``request_id``."""
    return {
        "type": "mcp_approval_response",
        "id": item_id,
        "approval_request_id": request_id,
        "approve": approve,
    }


async def respond_to(connection: Any, item: Mapping[str, Any]) -> list[Any]:
    """Add ``item`` to the conversation, ask for a response, and return the events up to its
    ``response.done``."""
    await connection.conversation.item.create(item=item)
    await connection.response.create()
    return await until(connection, "response.done")


# -- the `realtime` command in a subprocess --------------------------------------------------


@contextmanager
def realtime_command(*argv: str) -> Iterator[subprocess.Popen[str]]:
    """``python -m realtime ARGV`` run from this checkout, its output piped as text.

    On the way out it is stopped with Ctrl-C (SIGINT) unless it has already exited, waited
    for, and its pipes are closed.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "realtime", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        cwd=ROOT,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:  # pragma: no cover - a stuck command
                process.kill()
                process.wait()
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


def announced_url(process: subprocess.Popen[str]) -> str:
    """The URL at the end of the next line the command prints (where it listens)."""
    assert process.stdout is not None
    line = process.stdout.readline()
    assert "://127.0.0.1:" in line, line
    return line.split()[-1]


@dataclass(frozen=True)
class ServedFake:
    """A ``realtime fake serve`` subprocess, as its clients reach it."""

    url: str
    """Its WebSocket URL (``ws://127.0.0.1:PORT/v1/realtime``)."""
    base: str
    """Its HTTP base URL; the control plane is under ``/_fake/``."""
    key: str | None = None
    """The bearer token control-plane requests carry, if any."""

    def request(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        """One control-plane request with the standard library: (status, decoded JSON)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base}/_fake/{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.key is not None:
            request.add_header("Authorization", f"Bearer {self.key}")
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    async def control(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        """:meth:`request` from a worker thread, for async tests."""
        return await anyio.to_thread.run_sync(self.request, method, path, body)


@contextmanager
def fake_serve(*args: str, control_key: str | None = None) -> Iterator[ServedFake]:
    """``realtime fake serve --port 0 ARGS`` in a subprocess; control-plane requests carry
    ``control_key`` as a bearer token when given."""
    with realtime_command("fake", "serve", "--port", "0", *args) as process:
        url, control = announced_url(process), announced_url(process)
        assert url.startswith("ws://127.0.0.1:") and control.endswith("/_fake/"), (url, control)
        yield ServedFake(url, control.removesuffix("/_fake/"), control_key)
