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


# -- input audio is released after commit or clear ------------------------------------------------


async def test_input_audio_is_released_from_the_journal_after_commit_and_clear() -> None:
    import base64

    from fakes import FakeRealtimeServer
    from tests.fake_client import connect

    fake = FakeRealtimeServer()
    chunk = base64.b64encode(b"\x01\x00" * 2400).decode()  # 100 ms
    with anyio.fail_after(10):
        async with connect(fake) as client:
            await client.send(
                {
                    "type": "session.update",
                    "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}},
                }
            )
            await client.until("session.updated")
            for _ in range(3):
                await client.send({"type": "input_audio_buffer.append", "audio": chunk})
            await client.send({"type": "input_audio_buffer.commit"})
            await client.until("conversation.item.done")
            await client.send({"type": "input_audio_buffer.append", "audio": chunk})
            await client.send({"type": "input_audio_buffer.clear"})
            await client.until("input_audio_buffer.cleared")
            await client.send({"type": "input_audio_buffer.append", "audio": chunk})
            await fake.wait_received(8)
    audio = [e["audio"] for e in fake.received if e["type"] == "input_audio_buffer.append"]
    assert audio == [
        *["<4800 bytes of audio released after commit>"] * 3,
        "<4800 bytes of audio released after clear>",
        chunk,  # still in the buffer: kept
    ]


async def test_server_vad_releases_the_audio_it_committed() -> None:
    import base64

    from fakes import FakeRealtimeServer
    from fakes._audio import pcm16_tone
    from tests.fake_client import connect

    fake = FakeRealtimeServer()
    speech = base64.b64encode(pcm16_tone(300)).decode()
    silence = base64.b64encode(bytes(48 * 300)).decode()
    with anyio.fail_after(10):
        async with connect(fake) as client:
            for audio in (speech, silence, silence):
                await client.send({"type": "input_audio_buffer.append", "audio": audio})
            await client.until("input_audio_buffer.committed")
            await client.until("response.done")
            await fake.wait_received(3)
    audio = [e["audio"] for e in fake.received]
    # Speech stopped 200 ms into the first silence: the commit took the first append and part
    # of the second, which is still partly buffered (kept), like the third.
    assert audio == ["<14400 bytes of audio released after commit>", silence, silence]


async def test_many_appends_keep_little_memory() -> None:
    """50k appends used to keep +300 MiB after the connection closed: every append event in the
    journal kept its audio. Measured here on 2,000 appends of 100 ms (12.5 MiB of base64)."""
    import base64
    import gc
    import tracemalloc

    from fakes import FakeRealtimeServer
    from tests.fake_client import connect

    fake = FakeRealtimeServer()
    chunk = base64.b64encode(b"\x01\x00" * 2400).decode()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        with anyio.fail_after(30):
            async with connect(fake) as client:
                await client.send(
                    {
                        "type": "session.update",
                        "session": {
                            "type": "realtime",
                            "audio": {"input": {"turn_detection": None}},
                        },
                    }
                )
                await client.until("session.updated")
                for i in range(2000):
                    await client.send({"type": "input_audio_buffer.append", "audio": chunk})
                    if i % 50 == 49:
                        await client.send({"type": "input_audio_buffer.commit"})
                        await client.until("conversation.item.done")
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < 2 * 2**20, f"{held / 2**20:.1f} MiB held"
