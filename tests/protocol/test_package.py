"""The package's public surface and its promise to stay free of I/O."""

from __future__ import annotations

import importlib
import subprocess
import sys

import heartline_protocol

MODULES = [
    "codec",
    "errors",
    "events",
    "fields",
    "fold",
    "frames",
    "limits",
    "position",
    "signals",
    "state",
]
PUBLIC_BY_MODULE = {
    "fields": {"MAX_ID_CHARS", "MAX_INT", "MAX_NOTE_CHARS"},
}
"""fields.py also exports its checks to sibling modules; only its constants are public."""


def test_package_reexports_exactly_its_modules_public_names() -> None:
    expected = {"SUBPROTOCOL"}
    for name in MODULES:
        module = importlib.import_module(f"heartline_protocol.{name}")
        expected |= PUBLIC_BY_MODULE.get(name, set(module.__all__))
    assert set(heartline_protocol.__all__) == expected
    for name in heartline_protocol.__all__:
        assert hasattr(heartline_protocol, name), name


def test_every_module_declares_all() -> None:
    for name in [*MODULES, "wire"]:
        module = importlib.import_module(f"heartline_protocol.{name}")
        assert module.__all__, name
        for exported in module.__all__:
            assert hasattr(module, exported), f"{name}.{exported}"


def test_importing_the_protocol_pulls_in_no_io_library() -> None:
    forbidden = ["asyncio", "aiohttp", "websockets", "redis", "socket", "selectors"]
    probe = f"import sys, heartline_protocol; print([m for m in {forbidden!r} if m in sys.modules])"
    result = subprocess.run(
        [sys.executable, "-I", "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_subprotocol_name_is_v1() -> None:
    assert heartline_protocol.SUBPROTOCOL == "heartline.v1"
