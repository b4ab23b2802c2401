"""The served fake under resource pressure: out of file descriptors, it backs off and keeps
serving (it used to exit); input audio is released after commit or clear."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

resource = pytest.importorskip("resource")

ROOT = Path(__file__).resolve().parent.parent

SERVER = textwrap.dedent(
    """
    import logging, os, resource, sys

    import anyio

    from fakes import FakeRealtimeServer

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)


    async def main() -> None:
        async with FakeRealtimeServer().serve() as url:
            # Room for a few connections only: the next accept() fails with EMFILE.
            open_now = len(os.listdir("/proc/self/fd"))
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            resource.setrlimit(resource.RLIMIT_NOFILE, (open_now + 4, hard))
            print(url, flush=True)
            await anyio.to_thread.run_sync(sys.stdin.read)  # until the test closes it


    anyio.run(main)
    """
)

UPGRADE = (
    "GET /v1/realtime?model=gpt-realtime HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nAuthorization: Bearer sk-test\r\n\r\n"
)


async def _upgrade(port: int) -> bytes:
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(UPGRADE.encode())
        return await stream.receive()


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc/self/fd")
async def test_out_of_file_descriptors_the_listener_backs_off_and_keeps_serving() -> None:
    process = await anyio.open_process(
        [sys.executable, "-c", SERVER],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    async with process:
        assert process.stdout is not None and process.stdin is not None
        assert process.stderr is not None
        with anyio.fail_after(20):
            url = (
                await BufferedByteReceiveStream(process.stdout).receive_until(b"\n", 200)
            ).decode()
            port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
            # More idle connections than the server has descriptors for.
            idle = [await anyio.connect_tcp("127.0.0.1", port) for _ in range(12)]
            # Wait until the server says it ran out of descriptors (it backs off and retries).
            stderr = BufferedByteReceiveStream(process.stderr)
            warning = await stderr.receive_until(b"\n", 1000)
            assert b"accept() failed (EMFILE)" in warning
            assert process.returncode is None
            for stream in idle:
                await stream.aclose()
            # Descriptors free again: the server serves the next connection.
            answer = await _upgrade(port)
            assert answer.startswith(b"HTTP/1.1 101 ")
            assert process.returncode is None
            await process.stdin.aclose()
            assert await process.wait() == 0
