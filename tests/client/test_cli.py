"""The ``heartline`` command line, run as a person would: processes in terminals.

Two partners share one machine (one config folder, profiles ``a`` and ``b``)
and a real hub. Every command is a real process; ``watch`` runs in the
background while the other partner acts.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import select
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest

from heartline import http, profiles
from heartline.cli import DESCRIBE
from heartline_protocol import EVENT_KINDS
from tests.support.hubs import HubProcess
from tests.support.servers import free_port

TIME = r"(\w{3} )?\d\d:\d\d"
"""A clock time as the CLI prints it: ``14:32``, or ``Wed 00:15`` past midnight."""


class Lines:
    """Lines from a child's pipe, each waited for at most ``timeout`` seconds."""

    def __init__(self, pipe: IO[bytes] | None) -> None:
        assert pipe is not None
        self._fd = pipe.fileno()
        self._buffer = b""

    def next(self, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._fd], [], [], left)[0]:
                raise TimeoutError(f"no line within {timeout} s; so far {self._buffer!r}")
            chunk = os.read(self._fd, 4096)
            if not chunk:
                raise EOFError(f"the pipe closed; left {self._buffer!r}")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()


@dataclass
class Watcher:
    """``heartline watch`` running in the background, ready once it said so."""

    process: subprocess.Popen[bytes]
    stdout: Lines
    stderr: Lines


@dataclass
class Terminal:
    """A terminal on the shared machine: the CLI with this config folder, against a hub."""

    config: Path
    hub: str
    watchers: list[subprocess.Popen[bytes]]

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTLINE_")}
        return {**env, "XDG_CONFIG_HOME": str(self.config), **extra}

    def run(self, profile: str | None, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        chosen = [] if profile is None else ["--profile", profile]
        return subprocess.run(
            [sys.executable, "-m", "heartline.cli", *chosen, *args],
            capture_output=True,
            text=True,
            env=self.env(**env),
            timeout=30,
            check=False,
        )

    def ok(self, profile: str, *args: str) -> str:
        """Run a command that must succeed; its stdout."""
        done = self.run(profile, *args)
        assert done.returncode == 0, done.stderr
        assert done.stderr == "", done.stderr
        return done.stdout

    def watch(self, profile: str, *args: str) -> Watcher:
        process = subprocess.Popen(
            [sys.executable, "-m", "heartline.cli", "--profile", profile, "watch", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env(),
        )
        self.watchers.append(process)
        watcher = Watcher(process, Lines(process.stdout), Lines(process.stderr))
        assert "watching" in watcher.stderr.next(), "watch says when it is connected"
        return watcher

    def profile_file(self, name: str) -> Path:
        return self.config / "heartline" / "profiles" / f"{name}.json"

    def saved(self, name: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.profile_file(name).read_text())
        return data


@dataclass
class Pair:
    terminal: Terminal
    a: str
    """Partner a's member id."""
    b: str


@pytest.fixture
def terminal(tmp_path: Path, shared_hub: HubProcess) -> Iterator[Terminal]:
    terminal = Terminal(tmp_path / "config", shared_hub.url, [])
    yield terminal
    for process in terminal.watchers:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def pair(terminal: Terminal) -> Pair:
    """Partner a created the pair, partner b joined it: both on this machine."""
    code = invite_code(terminal.ok("a", "pair", "create", "--hub", terminal.hub))
    terminal.ok("b", "pair", "join", code, "--hub", terminal.hub)
    return Pair(terminal, terminal.saved("a")["member"], terminal.saved("b")["member"])


def invite_code(stdout: str) -> str:
    found = re.search(r"^Invite code: (\S+) \(single use; expires in 24 hours", stdout, re.M)
    assert found, stdout
    return found.group(1)


def number_in(pattern: str, text: str) -> int:
    """The event number a line of output ends with."""
    found = re.search(pattern, text, re.M)
    assert found, text
    return int(found.group(1))


def assert_one_line_error(done: subprocess.CompletedProcess[str], status: int) -> str:
    """The command failed with ``status`` and said why in one line, without a traceback."""
    assert done.returncode == status, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("heartline: ")
    assert done.stderr.count("\n") == 1, done.stderr
    return done.stderr


# Pairing.


def test_two_partners_pair_up_on_one_machine_with_private_credentials(
    terminal: Terminal,
) -> None:
    created = terminal.ok("a", "pair", "create", "--hub", terminal.hub, "--name", "laptop")
    first_code = invite_code(created)
    assert f"heartline pair join {first_code} --hub {terminal.hub}" in created
    second_code = invite_code(terminal.ok("a", "pair", "invite"))
    assert second_code != first_code

    stale = terminal.run("b", "pair", "join", first_code, "--hub", terminal.hub)
    assert "not_found" in assert_one_line_error(stale, 1), "a new invite replaces the old"
    joined = terminal.ok("b", "pair", "join", second_code, "--hub", terminal.hub)
    a, b = terminal.saved("a"), terminal.saved("b")
    assert joined.startswith(f"Joined the pair {a['pair']} with {a['member']}, as {b['member']}")
    assert (a["hub"], b["hub"], b["pair"], b["partner"]) == (
        terminal.hub,
        terminal.hub,
        a["pair"],
        a["member"],
    )

    folder = terminal.profile_file("a").parent
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(folder.parent.stat().st_mode) == 0o700
    for name in ("a", "b"):
        assert stat.S_IMODE(terminal.profile_file(name).stat().st_mode) == 0o600
    assert sorted(path.name for path in folder.iterdir()) == ["a.json", "b.json"]
    for output in (created, joined):
        assert a["token"] not in output
        assert b["token"] not in output

    again = terminal.run("a", "pair", "invite")
    assert "conflict" in assert_one_line_error(again, 1), "the partner has joined"
    twice = terminal.run("b", "pair", "join", second_code)
    assert "already paired" in assert_one_line_error(twice, 1)


def test_a_wrong_invite_code_is_refused_naming_not_found(terminal: Terminal) -> None:
    done = terminal.run("b", "pair", "join", "ABCDE-FGHJK", "--hub", terminal.hub)
    assert "refused by the hub: not_found" in assert_one_line_error(done, 1)
    assert not terminal.profile_file("b").exists()


# Signals and the state.


def test_a_space_shows_in_the_partners_status_counting_down(pair: Pair) -> None:
    terminal = pair.terminal
    sent = terminal.ok("a", "space", "30", "--note", "walk")
    assert re.fullmatch(rf"Space for 30 min until {TIME} stored \(#\d+\)\n", sent), sent

    status = terminal.ok("b", "status")
    countdown = rf"^partner: in space until {TIME} \((29|30) min left\): 'walk'; "
    assert re.search(countdown, status, re.M), status
    assert re.search(r"^you: available$", status, re.M), status
    assert "no open bids" in status

    as_json = terminal.run(None, "status", "--json", HEARTLINE_PROFILE="b")
    assert as_json.returncode == 0, "the profile can come from HEARTLINE_PROFILE"
    shown = json.loads(as_json.stdout)
    assert (shown["member"], shown["partner"]) == (pair.b, pair.a)
    members = {member["id"]: member for member in shown["state"]["members"]}
    assert (members[pair.a]["status"], members[pair.a]["note"]) == ("space", "walk")
    left_ms = members[pair.a]["until"] - shown["server_time"]
    assert 29 * 60_000 < left_ms <= 30 * 60_000


def test_watch_prints_the_partners_check_in_as_json(pair: Pair) -> None:
    terminal = pair.terminal
    watcher = terminal.watch("b", "--count", "1", "--json", "--kind", "check_in")
    sent = terminal.ok("a", "check-in", "--note", "hi")
    seq = number_in(r"Check-in stored; .* \(#(\d+)\)$", sent)

    assert watcher.process.wait(timeout=10) == 0, "it exits after --count events"
    event = json.loads(watcher.stdout.next())
    assert event["seq"] == seq
    assert (event["kind"], event["member"], event["note"]) == ("check_in", pair.a, "hi")
    assert event["device"] == terminal.saved("a")["device"]
    assert {"id", "at"} <= event.keys()


def test_watch_tells_a_person_what_happens_and_stops_on_ctrl_c(pair: Pair) -> None:
    terminal = pair.terminal
    watcher = terminal.watch("b")
    terminal.ok("a", "space", "30", "--note", "walk")

    seen = [watcher.stdout.next()]
    while "needs space" not in seen[-1]:
        seen.append(watcher.stdout.next())
    assert re.fullmatch(rf"\d\d:\d\d partner needs space for 30 min until {TIME}: 'walk'", seen[-1])
    assert not any(line.endswith("you are online") for line in seen), "no echo of watching"

    watcher.process.send_signal(signal.SIGINT)
    assert watcher.process.wait(timeout=10) == 0
    assert watcher.process.stderr is not None
    assert b"Traceback" not in watcher.process.stderr.read()


def test_a_bid_is_heard_without_naming_its_number(pair: Pair) -> None:
    terminal = pair.terminal
    sent = terminal.ok("b", "disconnected", "--note", "miss you", "--wish", "talk")
    seq = number_in(r"^Bid for connection stored.* \(#(\d+)\)$", sent)
    assert "wishing for talk" in sent

    status = terminal.ok("a", "status")
    assert re.search(
        rf"^open: partner's bid for connection #{seq} at {TIME}, wishing for talk: 'miss you'",
        status,
        re.M,
    ), status

    heard = terminal.ok("a", "ack", "--reply", "I hear you")
    assert heard.startswith(f"Heard your partner's bid for connection #{seq}: 'I hear you' (#")
    state = json.loads(terminal.ok("b", "status", "--json"))["state"]
    bid = next(bid for bid in state["bids"] if bid["seq"] == seq)
    assert (bid["ack"]["member"], bid["ack"]["reply"]) == (pair.a, "I hear you")

    nothing = terminal.run("a", "ack")
    assert "nothing to acknowledge" in assert_one_line_error(nothing, 1)


# Devices and unpairing.


def test_a_device_is_added_with_its_token_shown_once_then_revoked(pair: Pair) -> None:
    terminal = pair.terminal
    added = terminal.run("a", "devices", "add", "watch", "--scope", "signal", "--name", "a watch")
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    assert re.fullmatch(r"hlt_\S+", token), "stdout is the token alone, for $(...)"
    assert "secret" in added.stderr
    found = re.search(r"Added watch (\S+) with scope signal", added.stderr)
    assert found, added.stderr
    watch_id = found.group(1)
    assert [d.id for d in asyncio.run(http.list_devices(terminal.hub, token))] == [
        terminal.saved("a")["device"],
        watch_id,
    ], "the token is the new watch's own"

    listing = terminal.ok("a", "devices")
    assert re.search(rf"^{watch_id} +watch +signal +.+ a watch$", listing, re.M), listing
    assert re.search(r" cli +full +.+\(this device\)$", listing, re.M), listing
    assert token not in listing

    assert terminal.ok("a", "devices", "revoke", watch_id).startswith(f"Revoked {watch_id}")
    assert watch_id not in terminal.ok("a", "devices", "list")


def test_unpairing_asks_for_yes_then_erases_the_pair_for_both(pair: Pair) -> None:
    terminal = pair.terminal
    unsure = terminal.run("a", "unpair")
    assert "--yes" in assert_one_line_error(unsure, 2)
    assert terminal.profile_file("a").exists()

    watcher = terminal.watch("b")
    assert terminal.ok("a", "unpair", "--yes").startswith("Unpaired")
    assert not terminal.profile_file("a").exists()
    assert watcher.process.wait(timeout=10) == 1, "a watch does not wait forever for a lost pair"
    assert "the pair was dissolved" in watcher.stderr.next()
    partner = terminal.run("b", "status")
    assert "pair again" in assert_one_line_error(partner, 1)


# Failures a person meets.


def test_a_command_without_a_profile_says_how_to_pair(terminal: Terminal) -> None:
    done = terminal.run("c", "status")
    message = assert_one_line_error(done, 3)
    assert "heartline --profile c pair create" in message


def test_an_unreachable_hub_is_said_plainly(terminal: Terminal) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    creating = terminal.run("a", "pair", "create", "--hub", nowhere)
    assert nowhere in assert_one_line_error(creating, 4)

    profiles.save(
        profiles.Profile("a", nowhere, "p_1", "m_A", "d_A1", "hlt_nothing"),
        directory=terminal.profile_file("a").parent,
    )
    started = time.monotonic()
    sending = terminal.run("a", "--timeout", "1", "space", "30")
    assert nowhere in assert_one_line_error(sending, 4)
    assert time.monotonic() - started < 5, "--timeout bounds the wait"


def test_watch_has_words_for_every_event_kind_of_the_protocol() -> None:
    """A kind without words would print as its bare name to a person."""
    assert set(DESCRIBE) == set(EVENT_KINDS)
