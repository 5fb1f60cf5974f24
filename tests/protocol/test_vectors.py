"""The language-neutral test vectors (protocol/vectors) drive the codec both ways.

Valid vectors were packed by ``umsgpack``, an implementation independent of the
``msgpack`` package our codec uses: decoding them and encoding the result must
give back the same bytes, so our encoder agrees with it byte for byte. Invalid
vectors must be refused with the stated error code (and field, where stated).
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import pytest
import umsgpack

from heartline_protocol import (
    CLIENT_FRAMES,
    EVENT_KINDS,
    HUB_FRAMES,
    SIGNAL_KINDS,
    SUBPROTOCOL,
    ErrorCode,
    Event,
    Frame,
    ProtocolError,
    UnknownEvent,
    decode_from_client,
    decode_from_hub,
    encode,
)

Vector = dict[str, Any]

VECTORS_DIR = Path(__file__).resolve().parents[2] / "protocol" / "vectors"
CLIENT = "client_to_hub"
HUB = "hub_to_client"
DECODERS: dict[str, Callable[[bytes], Frame]] = {
    CLIENT: decode_from_client,
    HUB: decode_from_hub,
}
EVENT_ENVELOPE = frozenset({"type", "seq", "id", "at", "kind", "member", "device"})


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "heartline_vectors_generate", VECTORS_DIR / "generate.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _document(stem: str) -> dict[str, Any]:
    text = (VECTORS_DIR / f"{stem}.json").read_text(encoding="utf-8")
    return cast(dict[str, Any], json.loads(text))


VALID: list[Vector] = _document("valid")["vectors"]
INVALID: list[Vector] = _document("invalid")["vectors"]


def _params(vectors: list[Vector]) -> list[Any]:
    return [pytest.param(vector, id=vector["name"]) for vector in vectors]


def _decode(vector: Vector) -> Frame:
    return DECODERS[vector["direction"]](bytes.fromhex(vector["hex"]))


def _typed(value: Any) -> Any:
    """``value`` with every map as its ordered items and every scalar tagged by wire type.

    Comparing these catches what ``==`` on plain values misses: key order, and
    ``True == 1``.
    """
    if isinstance(value, dict):
        return ("map", [(key, _typed(item)) for key, item in value.items()])
    if isinstance(value, list):
        return ("array", [_typed(item) for item in value])
    # bool before int (bool is an int); str covers the codec's str enums (kinds).
    for tag, kind in (("bool", bool), ("int", int), ("str", str)):
        if isinstance(value, kind):
            return (tag, value)
    return (type(value).__name__, value)


# ---------------------------------------------------------------------------
# The files
# ---------------------------------------------------------------------------


def test_committed_files_equal_the_generators_output() -> None:
    generator = _load_generator()
    built = cast(dict[str, list[Vector]], generator.build())
    assert sorted(built) == ["invalid", "valid"]
    for stem, vectors in built.items():
        committed = (VECTORS_DIR / f"{stem}.json").read_text(encoding="utf-8")
        expected = cast(str, generator.render(vectors))
        assert committed == expected, f"{stem}.json is stale: run `make vectors`"


@pytest.mark.parametrize("stem", ["valid", "invalid"])
def test_file_header_and_vector_shape(stem: str) -> None:
    document = _document(stem)
    assert list(document) == ["protocol", "vectors"]
    assert document["protocol"] == SUBPROTOCOL
    names = [vector["name"] for vector in document["vectors"]]
    assert names == sorted(set(names)), "names are unique and sorted"
    outcome = "frame" if stem == "valid" else "error"
    for vector in document["vectors"]:
        assert list(vector) == ["name", "description", "direction", "hex", outcome]
        assert vector["direction"] in DECODERS
        assert vector["description"]
        assert vector["hex"] == vector["hex"].lower()
        bytes.fromhex(vector["hex"])


# ---------------------------------------------------------------------------
# Valid vectors
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("vector", _params(VALID))
def test_independent_msgpack_reads_the_stated_frame(vector: Vector) -> None:
    unpacked = umsgpack.unpackb(bytes.fromhex(vector["hex"]))
    assert unpacked == vector["frame"]
    assert _typed(unpacked) == _typed(vector["frame"])


@pytest.mark.parametrize("vector", _params(VALID))
def test_codec_decodes_and_reencodes_byte_for_byte(vector: Vector) -> None:
    frame = _decode(vector)
    assert frame.type == vector["frame"]["type"]
    assert encode(frame) == bytes.fromhex(vector["hex"])


@pytest.mark.parametrize("vector", _params(VALID))
def test_decoded_frame_has_the_stated_wire_map(vector: Vector) -> None:
    """Holds for unknown event kinds too: their fields are kept, uninterpreted."""
    frame = _decode(vector)
    wire = {"type": frame.type, **frame.to_map()}
    assert _typed(wire) == _typed(vector["frame"])


@pytest.mark.parametrize(
    "vector",
    _params([v for v in VALID if v["frame"]["type"] == "event"]),
)
def test_unknown_event_kinds_decode_to_unknown_event(vector: Vector) -> None:
    stated = vector["frame"]
    frame = _decode(vector)
    assert isinstance(frame, Event)
    assert frame.kind == stated["kind"]
    if stated["kind"] in EVENT_KINDS:
        assert isinstance(frame.body, EVENT_KINDS[stated["kind"]])
        return
    assert isinstance(frame.body, UnknownEvent)
    assert frame.body.name == stated["kind"]
    extra = {key: value for key, value in stated.items() if key not in EVENT_ENVELOPE}
    assert _typed(frame.body.fields) == _typed(extra)
    assert encode(frame) == bytes.fromhex(vector["hex"])


# ---------------------------------------------------------------------------
# Invalid vectors
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("vector", _params(INVALID))
def test_invalid_vector_is_refused_with_the_stated_error(vector: Vector) -> None:
    expected = vector["error"]
    with pytest.raises(ProtocolError) as raised:
        _decode(vector)
    assert (raised.value.code, raised.value.field) == (expected["code"], expected.get("field"))


def test_invalid_vectors_use_known_error_codes() -> None:
    for vector in INVALID:
        assert set(vector["error"]) <= {"code", "field"}, vector["name"]
        assert vector["error"]["code"] in set(ErrorCode), vector["name"]


# ---------------------------------------------------------------------------
# Coverage
# ---------------------------------------------------------------------------


def _frame_types(direction: str) -> set[str]:
    return {v["frame"]["type"] for v in VALID if v["direction"] == direction}


def test_every_client_frame_type_has_a_valid_vector() -> None:
    assert set(CLIENT_FRAMES) <= _frame_types(CLIENT)
    assert _frame_types(CLIENT) <= set(CLIENT_FRAMES)


def test_every_hub_frame_type_has_a_valid_vector() -> None:
    assert set(HUB_FRAMES) <= _frame_types(HUB)
    assert _frame_types(HUB) <= set(HUB_FRAMES)


def test_every_signal_kind_has_a_valid_vector() -> None:
    kinds = {
        v["frame"]["kind"]
        for v in VALID
        if v["direction"] == CLIENT and v["frame"]["type"] == "signal"
    }
    assert kinds == set(SIGNAL_KINDS)


def test_every_event_kind_and_an_unknown_one_has_a_valid_vector() -> None:
    kinds = {
        v["frame"]["kind"] for v in VALID if v["direction"] == HUB and v["frame"]["type"] == "event"
    }
    assert set(EVENT_KINDS) <= kinds
    assert kinds - set(EVENT_KINDS), "no vector of an event kind v1 does not know"


def test_there_are_enough_invalid_vectors() -> None:
    assert len(INVALID) >= 25
    assert {v["direction"] for v in INVALID} == {CLIENT, HUB}
