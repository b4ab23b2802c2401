"""Every Python block of README.md and docs/*.md runs, as written, against the fake.

Blocks are of three kinds:

- a test file (it defines ``test_...`` functions; a first line ``# name.py`` names it): run by an
  inner pytest with the plugins it names, together with the module blocks (``# app.py``) before
  it. An anyio test that does not pin ``anyio_backend`` must pass on asyncio AND trio, as
  anyio's plugin runs it on every installed backend;
- a module (a first line ``# name.py``, no tests): written beside the test files that follow;
- a snippet: executed in one namespace per document, in order, where ``fake`` and
  ``fake_realtime`` are a :class:`fakes.FakeRealtimeServer`, ``pcm`` some audio, ``OPENAI_API_KEY``
  is set and ``realtime``'s default transport reaches that fake in memory. A document whose
  snippets use top-level ``await``/``async with`` runs them on asyncio and on trio.

Hidden HTML comments give a snippet what a reader does not need to see:
``<!-- example-setup: CODE -->`` just before a block runs ``CODE`` first (e.g. scripting the
fake; before a test file, it runs with ``pytester`` and ``ROOT`` to lay out files the test needs,
e.g. a cassette), and ``<!-- example-stdout: TEXT -->`` just after it requires ``TEXT`` in what
it printed.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

import realtime
import realtime.connection._connect
from fakes import FakeRealtimeServer
from realtime.transports import MemoryTransport

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_BLOCK = re.compile(r"^```python\n(.*?)^```\n", re.MULTILINE | re.DOTALL)
_STDOUT = re.compile(r"\A\s*<!-- example-stdout: (.*?) -->")
_NAME = re.compile(r"\A# (\w+\.py)\b")


@dataclass
class Block:
    document: Path
    line: int  # of the block's first code line, 1-based
    code: str
    setup: str | None
    stdout: str | None

    @property
    def where(self) -> str:
        return f"{self.document.relative_to(ROOT)}:{self.line}"

    @property
    def name(self) -> str | None:
        match = _NAME.match(self.code)
        return match.group(1) if match else None

    @property
    def is_test_file(self) -> bool:
        return re.search(r"^(async )?def test_", self.code, re.MULTILINE) is not None

    @property
    def needs_await(self) -> bool:
        try:
            compile(self.code, self.where, "exec")
        except SyntaxError:
            return True
        return False

    def compiled(self) -> Any:
        # Padded so that a traceback points at the document's own line.
        source = "\n" * (self.line - 1) + self.code
        return compile(source, str(self.document), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


def _setup_of(before: str) -> str | None:
    """The ``example-setup`` comment right before a block (the last one, not an earlier one)."""
    tail = before.rstrip()
    start = tail.rfind("<!-- example-setup: ")
    if start < 0 or not tail.endswith("-->") or "-->" in tail[start:-3]:
        return None
    return tail[start + len("<!-- example-setup: ") : -3].strip()


def blocks(document: Path) -> list[Block]:
    text = document.read_text()
    found = []
    for match in _BLOCK.finditer(text):
        before, after = text[: match.start()], text[match.end() :]
        setup = _setup_of(before)
        stdout = _STDOUT.match(after)
        found.append(
            Block(
                document,
                before.count("\n") + 2,
                match.group(1),
                setup,
                stdout.group(1) if stdout else None,
            )
        )
    return found


def _all_blocks() -> list[Block]:
    return [block for document in DOCUMENTS for block in blocks(document)]


def test_every_block_is_collected() -> None:
    # The collector sees the blocks a reader sees: one per ```python fence.
    for document in DOCUMENTS:
        assert len(blocks(document)) == document.read_text().count("```python\n"), document


# -- test files ---------------------------------------------------------------------------------


def _test_files() -> list[Block]:
    return [block for block in _all_blocks() if block.is_test_file]


@pytest.mark.parametrize("block", _test_files(), ids=lambda block: block.where)
def test_documented_test_file_passes(pytester: pytest.Pytester, block: Block) -> None:
    if "openai" in block.code:
        pytest.importorskip("openai")
    modules = {
        earlier.name.removesuffix(".py"): earlier.code
        for earlier in blocks(block.document)
        if earlier.line < block.line and earlier.name and not earlier.is_test_file
    }
    name = (block.name or "test_example.py").removesuffix(".py")
    pytester.makepyfile(**modules, **{name: block.code})
    pytester.syspathinsert()
    if block.setup is not None:
        exec(block.setup, {"pytester": pytester, "ROOT": ROOT})
    if "pytest.mark.asyncio" in block.code:
        plugins = ["-p", "asyncio", "-o", "asyncio_default_fixture_loop_scope=function"]
    else:
        plugins = ["-p", "anyio", "-p", "no:asyncio"]
    result = pytester.runpytest_inprocess(*plugins, "-v", "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) >= 1, result.stdout.str()
    assert set(outcomes) <= {"passed", "warnings"}, result.stdout.str()
    if "pytest.mark.anyio" in block.code and "def anyio_backend" not in block.code:
        output = result.stdout.str()
        assert "[asyncio] PASSED" in output and "[trio] PASSED" in output, output


# -- snippets -----------------------------------------------------------------------------------


def _snippets(document: Path) -> list[Block]:
    """The document's blocks that are neither a test file nor a named module."""
    return [block for block in blocks(document) if not block.is_test_file and block.name is None]


def _snippet_documents(*, needs_await: bool) -> list[Path]:
    """The documents with snippets: those where one needs ``await``, or those where none does."""
    found = []
    for document in DOCUMENTS:
        snippets = _snippets(document)
        if snippets and any(block.needs_await for block in snippets) == needs_await:
            found.append(document)
    return found


def _setup_namespace(monkeypatch: pytest.MonkeyPatch) -> tuple[FakeRealtimeServer, dict[str, Any]]:
    fake = FakeRealtimeServer()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-example")
    monkeypatch.setattr(
        realtime.connection._connect, "_default_transport", lambda: MemoryTransport(fake)
    )
    namespace: dict[str, Any] = {
        "__name__": "__example__",
        "fake": fake,
        "fake_realtime": fake,
        "pcm": b"\x00\x10" * 2400,
    }
    return fake, namespace


def _set_up(document: Path, namespace: dict[str, Any]) -> Iterator[Block]:
    """The document's snippets in order, each once its hidden setup ran in ``namespace``."""
    for block in _snippets(document):
        if block.setup is not None:
            exec(block.setup, namespace)
        yield block


# An API key or a minted client secret, not masked: no example may print one.
_KEY = re.compile(r"\b(sk-|ek_)(?!\*\*\*)")


def _check_stdout(block: Block, capsys: pytest.CaptureFixture[str]) -> None:
    printed = capsys.readouterr().out
    assert not _KEY.search(printed), f"{block.where} printed a key: {printed!r}"
    if block.stdout is not None:
        assert block.stdout in printed, f"{block.where} printed {printed!r}"


@pytest.mark.parametrize(
    "document", _snippet_documents(needs_await=False), ids=lambda document: document.name
)
def test_documented_snippets_run(
    document: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake, namespace = _setup_namespace(monkeypatch)
    for block in _set_up(document, namespace):
        exec(block.compiled(), namespace)
        _check_stdout(block, capsys)
    fake.check(strict=False)


@pytest.mark.parametrize(
    "document", _snippet_documents(needs_await=True), ids=lambda document: document.name
)
async def test_documented_async_snippets_run(
    document: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake, namespace = _setup_namespace(monkeypatch)
    for block in _set_up(document, namespace):
        with anyio.fail_after(10):
            result = eval(block.compiled(), namespace)
            if result is not None:
                await result
        _check_stdout(block, capsys)
    fake.check()
