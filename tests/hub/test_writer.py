"""The bounded outbound queue: a client that stops reading fills it, and only it."""

from __future__ import annotations

import asyncio

from heartline_hub.writer import BACKLOG_BYTES, Writer, binary_frame


async def test_frames_are_sent_in_order() -> None:
    sent: list[bytes] = []

    async def send(frame: bytes) -> None:
        sent.append(frame)

    writer = Writer(send, capacity=8, on_overflow=lambda: None)
    writer.start()
    for number in range(5):
        assert writer.put(bytes([number]))
    await writer.flush_and_stop(timeout=1.0)
    assert sent == [bytes([number]) for number in range(5)]


async def test_a_stuck_socket_overflows_the_queue_once() -> None:
    stuck, entered = asyncio.Event(), asyncio.Event()
    overflows: list[int] = []

    async def send(frame: bytes) -> None:
        del frame
        entered.set()
        await stuck.wait()

    writer = Writer(send, capacity=3, on_overflow=lambda: overflows.append(1))
    writer.start()
    assert writer.put(b"first")
    await entered.wait()
    accepted = [writer.put(b"x") for _ in range(5)]
    assert accepted == [True, True, True, False, False]
    assert overflows == [1]
    await writer.stop()


class Socket(asyncio.Transport):
    """A transport that keeps what is written and reports a backlog when told to."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.backlog = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))

    def get_write_buffer_size(self) -> int:
        return self.backlog

    def is_closing(self) -> bool:
        return False


def test_a_binary_frame_has_the_header_rfc_6455_gives_each_length() -> None:
    assert binary_frame(b"hi") == b"\x82\x02hi"
    assert binary_frame(b"x" * 126)[:4] == b"\x82\x7e\x00\x7e"
    assert binary_frame(b"x" * 70_000)[:10] == b"\x82\x7f" + (70_000).to_bytes(8, "big")
    assert len(binary_frame(b"x" * 70_000)) == 10 + 70_000


async def test_a_socket_that_keeps_up_gets_a_turns_frames_in_one_write_without_the_queue() -> None:
    slow: list[bytes] = []

    async def send(frame: bytes) -> None:
        slow.append(frame)

    socket = Socket()
    writer = Writer(send, capacity=2, on_overflow=lambda: None, transport=socket)
    writer.start()

    assert all(writer.put(bytes([n])) for n in range(10))
    assert socket.written == []
    await asyncio.sleep(0)
    assert socket.written == [b"".join(binary_frame(bytes([n])) for n in range(10))]
    assert writer.put(b"next turn")
    await asyncio.sleep(0)

    assert socket.written[1:] == [binary_frame(b"next turn")]
    assert slow == []
    await writer.stop()


async def test_flushing_before_a_close_writes_the_turns_frames_first() -> None:
    async def send(frame: bytes) -> None:
        raise AssertionError(f"nothing should queue: {frame!r}")

    socket = Socket()
    writer = Writer(send, capacity=2, on_overflow=lambda: None, transport=socket)
    writer.start()
    assert writer.put(b"error frame")

    await writer.flush_and_stop(timeout=1.0)
    assert socket.written == [binary_frame(b"error frame")]
    await asyncio.sleep(0)
    assert socket.written == [binary_frame(b"error frame")]


async def test_stopping_for_a_slow_consumer_drops_the_turns_frames() -> None:
    async def send(frame: bytes) -> None:
        raise AssertionError(f"nothing should queue: {frame!r}")

    socket = Socket()
    writer = Writer(send, capacity=2, on_overflow=lambda: None, transport=socket)
    writer.start()
    assert writer.put(b"never sent")

    await writer.stop()
    await asyncio.sleep(0)
    assert socket.written == []


async def test_after_a_backlog_frames_queue_and_keep_their_order() -> None:
    slow: list[bytes] = []
    release = asyncio.Event()

    async def send(frame: bytes) -> None:
        await release.wait()
        slow.append(frame)

    socket = Socket()
    writer = Writer(send, capacity=8, on_overflow=lambda: None, transport=socket)
    writer.start()
    assert writer.put(b"a")
    await asyncio.sleep(0)
    socket.backlog = BACKLOG_BYTES + 1
    assert writer.put(b"b")
    socket.backlog = 0
    assert writer.put(b"c")

    assert socket.written == [binary_frame(b"a")]
    release.set()
    await writer.flush_and_stop(timeout=1.0)
    assert slow == [b"b", b"c"]
    assert not writer.put(b"after the end")


async def test_a_lone_pong_goes_out_at_once_and_never_ahead_of_a_turns_frames() -> None:
    async def send(frame: bytes) -> None:
        raise AssertionError("a socket that keeps up takes frames directly")

    socket = Socket()
    writer = Writer(send, capacity=4, on_overflow=lambda: None, transport=socket)
    writer.start()

    assert writer.put_alone(b"pong-1")
    assert socket.written == [binary_frame(b"pong-1")], "written before the turn ends"

    assert writer.put(b"event")
    assert writer.put_alone(b"pong-2")
    assert socket.written == [binary_frame(b"pong-1")]
    await asyncio.sleep(0)
    assert socket.written[1:] == [binary_frame(b"event") + binary_frame(b"pong-2")]


async def test_a_lone_pong_waits_behind_a_backlog() -> None:
    slow: list[bytes] = []

    async def send(frame: bytes) -> None:
        slow.append(frame)

    socket = Socket()
    socket.backlog = BACKLOG_BYTES + 1
    writer = Writer(send, capacity=4, on_overflow=lambda: None, transport=socket)
    writer.start()

    assert writer.put(b"event")
    assert writer.put_alone(b"pong")
    await writer.flush_and_stop(timeout=1.0)

    assert (socket.written, slow) == ([], [b"event", b"pong"])
