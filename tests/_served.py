"""Outside clients against a fake served on 127.0.0.1: the official ``openai`` SDK (asyncio only),
and the ``realtime`` command run in a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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
