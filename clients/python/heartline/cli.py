"""``heartline``: the partner vocabulary from a terminal.

::

    heartline --profile a pair create --hub http://127.0.0.1:8080
    heartline --profile b pair join K7QPM-2X9DA --hub http://127.0.0.1:8080
    heartline --profile a space 30 --note "a walk, love you"
    heartline --profile b status
    heartline --profile b watch

Each command that talks to the pair opens one short session with the hub
(:func:`heartline.connect`), does one thing, prints one human line and
exits; ``watch`` stays connected and prints the pair's events as they come.
Pairing and devices go over the hub's HTTP API (:mod:`heartline.http`).
Credentials live in profiles (:mod:`heartline.profiles`).

Errors are one line on stderr, ``heartline: <message>``, never a traceback,
and the exit status says what kind of failure it was (:data:`EXIT_CODES`),
so a script can tell "the hub said no" from "the hub is not there".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import signal
import sys
import time
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from heartline_protocol import (
    Ack,
    Bid,
    CheckIn,
    Delivered,
    Event,
    FeelingDisconnected,
    ImBack,
    MemberState,
    MemberStatus,
    NeedSpace,
    Presence,
    ProtocolError,
    SpaceEnded,
    SpaceEnding,
    WebhookDisabled,
)

from . import http, profiles
from .client import EventStream, Heartline, connect
from .connection import Options
from .errors import (
    HeartlineError,
    HubError,
    NotDelivered,
    OutboxFull,
    SessionEnded,
)
from .http import HubUnreachable, Invite, websocket_url
from .profiles import BadProfileName, NoProfile, Profile

__all__ = ["EXIT_CODES", "main"]

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_NO_PROFILE = 3
EXIT_UNREACHABLE = 4
EXIT_INTERRUPTED = 130
EXIT_CODES = {
    EXIT_OK: "done",
    EXIT_REFUSED: "refused: by the hub (its error code is shown), or nothing to do",
    EXIT_USAGE: "usage error: a wrong command, option or value",
    EXIT_NO_PROFILE: "no usable profile: pair first",
    EXIT_UNREACHABLE: "the hub could not be reached, or did not answer in time",
}

DEFAULT_PROFILE = "default"
DEFAULT_HUB = "http://127.0.0.1:8080"
DEFAULT_TIMEOUT_S = 10.0
AGENT = "heartline-cli/0.1"
WATCH_POLL_S = 0.5
"""How often ``watch`` looks at the connection, to say when it drops and comes back."""
DEVICE_KINDS = ("phone", "watch", "widget", "web", "cli")
SCOPES = ("full", "signal", "read")


class CliError(Exception):
    """A refusal of the command line itself, with its exit status."""

    def __init__(self, message: str, status: int = EXIT_REFUSED) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


# Output: results on stdout, notices and errors on stderr.


def say(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def tell(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


# Words: times, durations and the partners' own text.


def clean(text: str) -> str:
    """A note as one safe line: control characters (newlines, terminal escapes) become spaces.

    Notes come from the partner's device; printed raw, an escape sequence in
    one could rewrite the terminal.
    """
    return "".join(" " if unicodedata.category(char) == "Cc" else char for char in text)


def quoted(text: str | None) -> str:
    """``: 'text'`` to append to a line, or nothing."""
    return "" if text is None else f": '{clean(text)}'"


def local(ms: int | float) -> datetime:
    return datetime.fromtimestamp(ms / 1000).astimezone()


def clock(ms: int | float, now: datetime | None = None) -> str:
    """``14:32`` today; ``Tue 09:10`` within a week; a date beyond."""
    moment, today = local(ms), (now or datetime.now().astimezone()).date()
    if moment.date() == today:
        return moment.strftime("%H:%M")
    if abs((moment.date() - today).days) < 7:
        return moment.strftime("%a %H:%M")
    return moment.strftime("%Y-%m-%d %H:%M")


def duration(seconds: float) -> str:
    """``30 min``, ``1 h 30 min``, ``45 s``: whole units, the largest first."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h" if hours else "", f"{minutes} min" if minutes else ""]
    parts.append(f"{secs} s" if secs or whole == 0 else "")
    return " ".join(part for part in parts if part)


def time_left(seconds: float) -> str:
    """Minutes left, rounded up: a space with 29 min 59 s to go has "30 min left"."""
    if seconds < 60:
        return "under a minute left" if seconds > 0 else "ending now"
    return f"{duration(math.ceil(seconds / 60) * 60)} left"


def ago(ms: int, now_ms: float) -> str:
    seconds = max(0.0, (now_ms - ms) / 1000)
    if seconds < 60:
        return "just now"
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if unit == 'day' and count > 1 else ''} ago"
    return "just now"  # pragma: no cover - the loop always returns


def expiry(invite: Invite) -> str:
    """``expires in 24 hours, at Tue 14:02``, by this machine's clock."""
    seconds = max(0.0, invite.expires_at / 1000 - time.time())
    hours = seconds / 3600
    words = f"{round(hours)} hours" if hours >= 2 else f"{max(1, round(seconds / 60))} minutes"
    return f"expires in {words}, at {clock(invite.expires_at)}"


def wish_words(wish: str) -> str:
    return clean(wish).replace("_", " ")


# The profile, the hub and a session with it.


@dataclass(frozen=True, slots=True)
class Context:
    """The global options, resolved: which profile, which hub, how long to wait."""

    profile_name: str
    hub_option: str | None
    timeout: float

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Context:
        name = getattr(args, "profile", None) or os.environ.get("HEARTLINE_PROFILE") or ""
        hub = getattr(args, "hub", None)
        return cls(
            profile_name=name or DEFAULT_PROFILE,
            hub_option=None if hub is None else hub_url(hub),
            timeout=getattr(args, "timeout", DEFAULT_TIMEOUT_S),
        )

    def profile(self) -> Profile:
        return profiles.load(self.profile_name, warn=lambda message: tell(f"heartline: {message}"))

    def hub_for(self, profile: Profile) -> str:
        """``--hub`` if given (the hub moved), else the hub the profile was paired with."""
        return self.hub_option or profile.hub

    def hub_for_pairing(self) -> str:
        return self.hub_option or hub_url(os.environ.get("HEARTLINE_HUB") or DEFAULT_HUB)

    def flag(self) -> str:
        """``--profile NAME `` to repeat in a suggested command, or nothing for the default."""
        return "" if self.profile_name == DEFAULT_PROFILE else f"--profile {self.profile_name} "


def hub_url(value: str) -> str:
    url = value.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CliError(
            f"--hub must be the hub's http:// or https:// address, e.g. {DEFAULT_HUB}; "
            f"got {value!r}",
            EXIT_USAGE,
        )
    return url


@contextlib.asynccontextmanager
async def session(ctx: Context) -> AsyncIterator[tuple[Profile, Heartline]]:
    """The profile's device connected to its hub, within ``--timeout`` (connecting included).

    A long-lived app keeps trying to connect for a while; a command line says
    quickly that the hub is not there.
    """
    profile = ctx.profile()
    hub = ctx.hub_for(profile)
    options = Options(call_timeout=ctx.timeout, connect_timeout=ctx.timeout, agent=AGENT)
    async with contextlib.AsyncExitStack() as stack:
        try:
            client = await stack.enter_async_context(
                connect(websocket_url(hub), profile.token, options)
            )
        except NotDelivered:
            raise NotDelivered(
                f"no answer from the hub at {hub} within {ctx.timeout:g} s: is it running there?"
            ) from None
        yield profile, client


def refuse_if_paired(ctx: Context) -> None:
    """Pairing again would overwrite, and so lose, a working token."""
    if profiles.exists(ctx.profile_name):
        raise CliError(
            f"profile {ctx.profile_name!r} is already paired; use another --profile, "
            f"or `heartline {ctx.flag()}unpair --yes` first"
        )


# Pairing.


async def pair_create(ctx: Context, args: argparse.Namespace) -> None:
    refuse_if_paired(ctx)
    hub = ctx.hub_for_pairing()
    credentials = await http.create_pair(hub, kind="cli", name=args.name)
    profiles.save(Profile.from_credentials(ctx.profile_name, credentials))
    say(f"Paired as {credentials.member} in the new pair {credentials.pair}.")
    if credentials.invite is not None:
        show_invite(credentials.invite, hub)


async def pair_join(ctx: Context, args: argparse.Namespace) -> None:
    refuse_if_paired(ctx)
    credentials = await http.join_pair(ctx.hub_for_pairing(), args.code, kind="cli", name=args.name)
    profiles.save(Profile.from_credentials(ctx.profile_name, credentials))
    partner = f" with {credentials.partner}" if credentials.partner else ""
    say(f"Joined the pair {credentials.pair}{partner}, as {credentials.member}.")


async def pair_invite(ctx: Context, args: argparse.Namespace) -> None:
    del args
    profile = ctx.profile()
    hub = ctx.hub_for(profile)
    show_invite(await http.new_invite(hub, profile.token), hub)


def show_invite(invite: Invite, hub: str) -> None:
    say(f"Invite code: {invite.code} (single use; {expiry(invite)})")
    say(f"Your partner joins with: heartline pair join {invite.code} --hub {hub}")


async def unpair(ctx: Context, args: argparse.Namespace) -> None:
    if not args.yes:
        raise CliError(
            "unpairing erases the pair and its whole history for both of you, and cannot be "
            f"undone; run `heartline {ctx.flag()}unpair --yes` to confirm",
            EXIT_USAGE,
        )
    profile = ctx.profile()
    try:
        await http.unpair(ctx.hub_for(profile), profile.token)
    except HubError as refused:
        if refused.code not in ("unauthorized", "not_found"):
            raise
        profiles.delete(profile.name)
        say(f"The hub no longer knows this device (already unpaired?): removed {profile.name!r}.")
        return
    profiles.delete(profile.name)
    say(f"Unpaired: the hub erased the pair's data, and profile {profile.name!r} was removed.")


# Signals.


async def space(ctx: Context, args: argparse.Namespace) -> None:
    async with session(ctx) as (_, hl):
        event = await hl.need_space(minutes=args.minutes, note=args.note)
    assert isinstance(event.body, NeedSpace)
    until = "" if event.body.until is None else f" until {clock(event.body.until)}"
    say(f"Space for {duration(event.body.duration)}{until} stored (#{event.seq})")


async def back(ctx: Context, args: argparse.Namespace) -> None:
    async with session(ctx) as (_, hl):
        event = await hl.im_back(note=args.note)
    say(f"Back: you are available again (#{event.seq})")


async def disconnected(ctx: Context, args: argparse.Namespace) -> None:
    async with session(ctx) as (_, hl):
        event = await hl.feeling_disconnected(note=args.note, wish=args.wish)
    wish = "" if args.wish is None else f", wishing for {wish_words(args.wish)}"
    say(f"Bid for connection stored{wish}; open until your partner hears it (#{event.seq})")


async def check_in(ctx: Context, args: argparse.Namespace) -> None:
    async with session(ctx) as (_, hl):
        event = await hl.check_in(note=args.note)
    say(f"Check-in stored; open until your partner answers (#{event.seq})")


async def ack(ctx: Context, args: argparse.Namespace) -> None:
    async with session(ctx) as (_, hl):
        target = args.seq if args.seq is not None else latest_open_bid(hl).seq
        bid = next((bid for bid in hl.state.bids if bid.seq == target), None)
        event = await (hl.ack(target) if args.reply is None else hl.ack(target, args.reply))
    assert isinstance(event.body, Ack)
    what = f"#{target}" if bid is None else f"{bid_words(bid)} #{target}"
    say(f"Heard your partner's {what}{quoted(event.body.reply)} (#{event.seq})")


def latest_open_bid(hl: Heartline) -> Bid:
    """The partner's newest open bid; hearing it hears the ones before it too (SPEC.md 5.5)."""
    if hl.partner is None:
        raise CliError("nothing to acknowledge: your partner has not joined yet")
    open_bids = [bid for bid in hl.state.open_bids if bid.member == hl.partner]
    if not open_bids:
        raise CliError("nothing to acknowledge: your partner has no open bid or check-in")
    return max(open_bids, key=lambda bid: bid.seq)


def bid_words(bid: Bid) -> str:
    return "check-in" if bid.kind == "check_in" else "bid for connection"


# Status.


async def status(ctx: Context, args: argparse.Namespace) -> None:
    async with session(ctx) as (profile, hl):
        if args.json:
            say(json.dumps(state_json(profile, hl)))
        else:
            for line in status_lines(hl):
                say(line)


def state_json(profile: Profile, hl: Heartline) -> dict[str, Any]:
    return {
        "pair": profile.pair,
        "member": hl.member,
        "partner": hl.partner,
        "server_time": round(hl.shared.clock.server_now_ms()),
        "state": hl.state.to_map(),
    }


def status_lines(hl: Heartline) -> list[str]:
    now_ms = hl.shared.clock.server_now_ms()
    partner = None if hl.partner is None else hl.state.member(hl.partner)
    if partner is None:
        lines = ["partner: not joined yet; invite them with `heartline pair invite`"]
    else:
        words = status_words(partner, hl.seconds_left(partner.id))
        lines = [f"partner: {words}; {presence_words(partner, now_ms)}"]
    me = hl.state.member(hl.member)
    if me is not None:
        lines.append(f"you: {status_words(me, hl.seconds_left(me.id))}")
    open_bids = hl.state.open_bids
    lines += [open_bid_line(bid, hl.member) for bid in open_bids] or ["no open bids"]
    return lines


def status_words(member: MemberState, seconds_left: float | None) -> str:
    if member.status is MemberStatus.SPACE and member.until is not None:
        left = time_left(seconds_left or 0.0)
        return f"in space until {clock(member.until)} ({left}){quoted(member.note)}"
    if member.status is MemberStatus.CHECK_IN_DUE and member.until is not None:
        return f"check-in due (the space ended at {clock(member.until)})"
    return "available"


def presence_words(member: MemberState, now_ms: float) -> str:
    if member.online:
        return "online"
    if member.last_seen is None:
        return "offline, not seen yet"
    return f"offline, last seen {clock(member.last_seen)} ({ago(member.last_seen, now_ms)})"


def open_bid_line(bid: Bid, me: str) -> str:
    wish = "" if bid.wish is None else f", wishing for {wish_words(bid.wish)}"
    if bid.member == me:
        owner, hint = "your", "waiting to be heard"
    else:
        owner, hint = "partner's", "answer with `heartline ack`"
    what = f"{owner} {bid_words(bid)} #{bid.seq} at {clock(bid.at)}"
    return f"open: {what}{wish}{quoted(bid.note)} ({hint})"


# Watch.


async def watch(ctx: Context, args: argparse.Namespace) -> None:
    kinds = {kind.replace("-", "_") for kind in args.kind or ()}
    async with session(ctx) as (_, hl):
        tail = Tail(hl.events())
        stop = stop_on_signals()
        link = LinkReporter(hl)
        tell("heartline: watching the pair's events (Ctrl-C to stop)")
        shown = 0
        try:
            while args.count is None or shown < args.count:
                event = await tail.next(stop, WATCH_POLL_S)
                link.check()
                if stop.is_set():
                    return
                if event is not None and wanted(event, kinds, hl.member, args.json):
                    say(json.dumps(event.to_map()) if args.json else event_line(event, hl))
                    shown += 1
        finally:
            tail.close()


def wanted(event: Event, kinds: set[str], me: str, as_json: bool) -> bool:
    """Whether ``watch`` shows an event: the ``--kind`` ones if given, else all of them.

    A person (not ``--json``) is spared the echoes of their own watching: their
    own presence and their own delivery receipts.
    """
    if kinds:
        return event.kind in kinds
    echo = event.member == me and event.kind in ("presence", "delivered")
    return as_json or not echo


class Tail:
    """The next event of a stream, or None after ``timeout`` or once ``stop`` is set.

    The pending read survives a timeout (it is only cancelled by
    :meth:`close`), so no event is ever dropped between two polls.
    """

    def __init__(self, stream: EventStream) -> None:
        self._stream = stream
        self._next: asyncio.Task[Event] | None = None

    async def next(self, stop: asyncio.Event, timeout: float) -> Event | None:
        if self._next is None:
            self._next = asyncio.create_task(self._stream.__anext__())
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait(
                {self._next, stopping}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            stopping.cancel()
        if not self._next.done():
            return None
        event, self._next = self._next.result(), None
        return event

    def close(self) -> None:
        if self._next is not None:
            self._next.cancel()
        self._stream.close()


class LinkReporter:
    """Says on stderr when the connection drops and comes back, and ends a dead session."""

    def __init__(self, hl: Heartline) -> None:
        self._hl = hl
        self._up = True

    def check(self) -> None:
        ended = self._hl.ended
        if ended is not None:
            raise ended
        if self._hl.connected != self._up:
            self._up = self._hl.connected
            tell(f"heartline: {'reconnected' if self._up else 'connection lost; reconnecting'}")
        if self._hl.history_lost.is_set():
            self._hl.history_lost.clear()
            tell("heartline: some events were missed while away; `heartline status` is current")


def stop_on_signals() -> asyncio.Event:
    """An event set by Ctrl-C (SIGINT) or SIGTERM, so that ``watch`` ends cleanly with 0."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on Windows
            loop.add_signal_handler(number, stop.set)
    return stop


@dataclass(frozen=True, slots=True)
class Who:
    """The subject of a line, ``partner`` (third person) or ``you``; and the bids known."""

    you: bool
    bids: tuple[Bid, ...] = ()

    @property
    def name(self) -> str:
        return "you" if self.you else "partner"

    @property
    def owner(self) -> str:
        return "your" if self.you else "partner's"

    @property
    def other_owner(self) -> str:
        return "partner's" if self.you else "your"

    def verb(self, base: str, third: str) -> str:
        return f"{self.name} {base if self.you else third}"


def event_line(event: Event, hl: Heartline) -> str:
    """``14:02 partner needs space for 30 min until 14:32: 'walk'``."""
    who = Who(event.member == hl.member, hl.state.bids)
    describe = DESCRIBE.get(event.kind)
    text = describe(event, who) if describe else f"{who.name}: {clean(event.kind)}"
    return f"{clock(event.at)} {text}"


def _need_space(event: Event, who: Who) -> str:
    body = event.body
    assert isinstance(body, NeedSpace)
    until = "" if body.until is None else f" until {clock(body.until)}"
    need = who.verb("need", "needs")
    return f"{need} space for {duration(body.duration)}{until}{quoted(body.note)}"


def _im_back(event: Event, who: Who) -> str:
    assert isinstance(event.body, ImBack)
    return f"{who.verb('are', 'is')} back{quoted(event.body.note)}"


def _feeling_disconnected(event: Event, who: Who) -> str:
    body = event.body
    assert isinstance(body, FeelingDisconnected)
    wish = "" if body.wish is None else f", wishing for {wish_words(body.wish)}"
    return f"{who.verb('feel', 'feels')} disconnected{wish}{quoted(body.note)} (#{event.seq})"


def _check_in(event: Event, who: Who) -> str:
    assert isinstance(event.body, CheckIn)
    return f"{who.verb('check', 'checks')} in{quoted(event.body.note)} (#{event.seq})"


def _ack(event: Event, who: Who) -> str:
    body = event.body
    assert isinstance(body, Ack)
    bid = next((bid for bid in who.bids if bid.seq == body.target), None)
    what = f"#{body.target}" if bid is None else f"{bid_words(bid)} #{body.target}"
    return f"{who.name} heard {who.other_owner} {what}{quoted(body.reply)}"


def _space_ending(event: Event, who: Who) -> str:
    assert isinstance(event.body, SpaceEnding)
    left = duration(max(0, event.body.until - event.at) / 1000)
    return f"{who.owner} space ends in {left}, at {clock(event.body.until)}"


def _space_ended(event: Event, who: Who) -> str:
    assert isinstance(event.body, SpaceEnded)
    due = "time to check in (`heartline back`)" if who.you else "a check-in is due"
    return f"{who.owner} space ended: {due}"


def _delivered(event: Event, who: Who) -> str:
    assert isinstance(event.body, Delivered)
    return f"delivered to {who.name} (through #{event.body.through})"


def _presence(event: Event, who: Who) -> str:
    assert isinstance(event.body, Presence)
    return f"{who.verb('are', 'is')} online" if event.body.online else f"{who.name} went offline"


def _joined(event: Event, who: Who) -> str:
    del event
    return f"{who.name} joined the pair"


def _webhook_disabled(event: Event, who: Who) -> str:
    assert isinstance(event.body, WebhookDisabled)
    return f"{who.owner} webhook {event.body.webhook} kept failing and was disabled"


DESCRIBE: dict[str, Callable[[Event, Who], str]] = {
    "need_space": _need_space,
    "im_back": _im_back,
    "feeling_disconnected": _feeling_disconnected,
    "check_in": _check_in,
    "ack": _ack,
    "space_ending": _space_ending,
    "space_ended": _space_ended,
    "delivered": _delivered,
    "presence": _presence,
    "joined": _joined,
    "webhook_disabled": _webhook_disabled,
}
"""Event kind to its words; other kinds (from a newer hub) are shown by name."""


# Devices and profiles.


async def devices_list(ctx: Context, args: argparse.Namespace) -> None:
    profile = ctx.profile()
    found = await http.list_devices(ctx.hub_for(profile), profile.token)
    if args.json:
        say(json.dumps([asdict(device) for device in found]))
        return
    say(f"{'ID':<24} {'KIND':<7} {'SCOPE':<7} {'ADDED':<17} NAME")
    for device in found:
        added = local(device.created).strftime("%Y-%m-%d %H:%M")
        name = clean(device.name or "-") + ("  (this device)" if device.current else "")
        say(f"{device.id:<24} {device.kind:<7} {device.scope:<7} {added:<17} {name}".rstrip())


async def devices_add(ctx: Context, args: argparse.Namespace) -> None:
    profile = ctx.profile()
    hub = ctx.hub_for(profile)
    device, token = await http.add_device(
        hub, profile.token, kind=args.kind, scope=args.scope, name=args.name
    )
    tell(f"Added {device.kind} {device.id} with scope {device.scope}. Its token, shown only now:")
    say(token)
    tell(
        "Keep it secret: whoever has it acts as you. Give it to the device only "
        f"(it connects to {websocket_url(hub)}); "
        f"revoke it with `heartline {ctx.flag()}devices revoke {device.id}`."
    )


async def devices_revoke(ctx: Context, args: argparse.Namespace) -> None:
    profile = ctx.profile()
    await http.revoke_device(ctx.hub_for(profile), profile.token, args.id)
    say(f"Revoked {args.id}: its token no longer works.")
    if args.id == profile.device:
        profiles.delete(profile.name)
        say(f"That was this profile's own device: removed profile {profile.name!r}.")


async def list_profiles(ctx: Context, args: argparse.Namespace) -> None:
    del args
    for name in profiles.names():
        mark = "*" if name == ctx.profile_name else " "
        try:
            saved = profiles.load(name, warn=lambda message: tell(f"heartline: {message}"))
            details = f"member {saved.member} of {saved.pair} at {saved.hub}"
        except NoProfile as error:
            details = str(error)
        say(f"{mark} {name}: {details}")


# The command line.

Handler = Callable[[Context, argparse.Namespace], Awaitable[None]]


def positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text!r}")
    return value


def sequence_number(text: str) -> int:
    if not text.lstrip("#").isdigit() or int(text.lstrip("#")) < 1:
        raise argparse.ArgumentTypeError(f"an event number such as 46, got {text!r}")
    return int(text.lstrip("#"))


def wish_name(text: str) -> str:
    """``quality time`` and ``quality-time`` are the protocol's ``quality_time``."""
    return text.strip().lower().replace(" ", "_").replace("-", "_")


def common_options() -> argparse.ArgumentParser:
    """Options accepted before or after the command (SUPPRESS: the later one wins)."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("global options")
    group.add_argument(
        "--profile",
        default=argparse.SUPPRESS,
        metavar="NAME",
        help=f"which saved identity to use (default: $HEARTLINE_PROFILE or {DEFAULT_PROFILE!r})",
    )
    group.add_argument(
        "--hub",
        default=argparse.SUPPRESS,
        metavar="URL",
        help=f"the hub's address: for pairing (default $HEARTLINE_HUB or {DEFAULT_HUB}); "
        "otherwise overrides the profile's",
    )
    group.add_argument(
        "--timeout",
        type=positive_number,
        default=argparse.SUPPRESS,
        metavar="SECONDS",
        help=f"give up on a hub that does not answer (default {DEFAULT_TIMEOUT_S:g})",
    )
    group.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log connections"
    )
    return common


class Commands:
    """Builds the parser: one small method per group of commands."""

    def __init__(self) -> None:
        self.common = common_options()
        self.parser = argparse.ArgumentParser(
            prog="heartline",
            parents=[self.common],
            description="Partner signals and your pair's shared state, from a terminal.",
            epilog="exit status: "
            + "; ".join(f"{code} {words}" for code, words in EXIT_CODES.items()),
        )
        self.sub = self.parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    def add(
        self,
        sub: argparse._SubParsersAction[argparse.ArgumentParser],
        name: str,
        handler: Handler,
        help: str,
    ) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, parents=[self.common], help=help, description=help)
        parser.set_defaults(handler=handler)
        return parser

    def build(self) -> argparse.ArgumentParser:
        self.pairing()
        self.signals()
        self.reading()
        self.devices()
        return self.parser

    def pairing(self) -> None:
        pair = self.sub.add_parser("pair", help="create a pair, join one, or invite again")
        actions = pair.add_subparsers(title="actions", required=True, metavar="ACTION")
        create = self.add(actions, "create", pair_create, "create a pair; prints an invite code")
        create.add_argument("--name", help="a name for this device, e.g. 'laptop'")
        join = self.add(actions, "join", pair_join, "join your partner's pair with their code")
        join.add_argument("code", metavar="CODE", help="the invite code, e.g. K7QPM-2X9DA")
        join.add_argument("--name", help="a name for this device")
        self.add(actions, "invite", pair_invite, "a new invite code (the old one stops working)")
        unpair_ = self.add(self.sub, "unpair", unpair, "dissolve the pair: the hub erases it all")
        unpair_.add_argument("--yes", action="store_true", help="yes, erase it")

    def signals(self) -> None:
        space_ = self.add(self.sub, "space", space, "I need space for MINUTES, I will come back")
        space_.add_argument("minutes", type=positive_number, metavar="MINUTES")
        space_.add_argument("--note", help="e.g. 'a walk to recharge, love you'")
        back_ = self.add(self.sub, "back", back, "I'm back: available again")
        back_.add_argument("--note")
        bid = self.add(self.sub, "disconnected", disconnected, "I feel disconnected (a bid)")
        bid.add_argument("--note", help="e.g. 'I miss you'")
        bid.add_argument("--wish", type=wish_name, help="quality_time, talk, hug, walk, play...")
        check = self.add(self.sub, "check-in", check_in, "thinking of you, how are you?")
        check.add_argument("--note")
        heard = self.add(self.sub, "ack", ack, "I hear you: answer your partner's bid")
        heard.add_argument(
            "seq", type=sequence_number, nargs="?", metavar="SEQ",
            help="the bid's number (default: your partner's latest open one)",
        )  # fmt: skip
        heard.add_argument("--reply", help="default: 'I hear you'")

    def reading(self) -> None:
        status_ = self.add(self.sub, "status", status, "both statuses and the open bids")
        status_.add_argument("--json", action="store_true", help="the state as JSON")
        tail = self.add(self.sub, "watch", watch, "print the pair's events as they happen")
        tail.add_argument("--json", action="store_true", help="one JSON object per event")
        tail.add_argument(
            "--kind",
            action="append",
            metavar="KIND",
            help="only events of this kind, e.g. need_space or check_in (repeatable)",
        )
        tail.add_argument(
            "--count",
            type=lambda text: round(positive_number(text)),
            metavar="N",
            help="exit after N events (for scripts and tests)",
        )
        self.add(self.sub, "profiles", list_profiles, "the saved profiles")

    def devices(self) -> None:
        listing = self.add(self.sub, "devices", devices_list, "your devices; add or revoke one")
        listing.add_argument("--json", action="store_true", help="as JSON")
        actions = listing.add_subparsers(title="actions", metavar="ACTION")
        self.add(actions, "list", devices_list, "your devices").add_argument(
            "--json", action="store_true", help="as JSON"
        )
        add = self.add(actions, "add", devices_add, "add a device; prints its token once")
        add.add_argument("kind", choices=DEVICE_KINDS, metavar="KIND", help=", ".join(DEVICE_KINDS))
        add.add_argument("--scope", choices=SCOPES, default="full", help="default: full")
        add.add_argument("--name", help="e.g. 'my watch'")
        revoke = self.add(actions, "revoke", devices_revoke, "revoke a device: its token stops")
        revoke.add_argument("id", metavar="ID")


def build_parser() -> argparse.ArgumentParser:
    return Commands().build()


def failure(error: BaseException, ctx: Context | None) -> tuple[int, str]:
    """The exit status and the one line for an error."""
    if isinstance(error, CliError):
        return error.status, error.message
    if isinstance(error, HeartlineError):
        return heartline_failure(error, ctx)
    if isinstance(error, ProtocolError):
        return EXIT_USAGE, error.message
    if isinstance(error, OSError):
        return EXIT_REFUSED, str(error)
    return EXIT_REFUSED, repr(error)  # pragma: no cover - main catches only the above


def heartline_failure(error: HeartlineError, ctx: Context | None) -> tuple[int, str]:
    if isinstance(error, NoProfile):
        flag = "" if ctx is None else ctx.flag()
        first = f"run `heartline {flag}pair create` or `heartline {flag}pair join CODE` first"
        return EXIT_NO_PROFILE, f"{error}: {first}"
    if isinstance(error, HubError):
        return EXIT_REFUSED, hub_error_words(error)
    if isinstance(error, SessionEnded):
        return EXIT_REFUSED, session_ended_words(error)
    if isinstance(error, HubUnreachable | NotDelivered | OutboxFull):
        return EXIT_UNREACHABLE, str(error)
    return (EXIT_USAGE if isinstance(error, BadProfileName) else EXIT_REFUSED), str(error)


def hub_error_words(error: HubError) -> str:
    retry = ""
    if error.retry_after_ms is not None:
        retry = f" (try again in {duration(error.retry_after_ms / 1000)})"
    return f"refused by the hub: {error.code}: {error.message}{retry}"


def session_ended_words(ended: SessionEnded) -> str:
    if ended.code == 4500:
        return (
            "the hub refused this device's token (4500 unauthorized): it was revoked, "
            "or the pair was dissolved; pair again"
        )
    if ended.code == 4501:
        return "the pair was dissolved (4501 unpaired): its data is erased; pair again"
    return f"the hub ended the session ({ended.code}): {ended.reason}"


def one_line(text: str) -> str:
    return " ".join(clean(text).split())


def configure_logging(verbose: bool) -> None:
    """The client library logs reconnects at INFO; shown with ``-v``, warnings always."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        stream=sys.stderr,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit status (see :data:`EXIT_CODES`)."""
    args = build_parser().parse_args(argv)
    configure_logging(getattr(args, "verbose", False))
    ctx: Context | None = None
    try:
        ctx = Context.from_args(args)
        asyncio.run(args.handler(ctx, args))
    except KeyboardInterrupt:
        return EXIT_OK if args.handler is watch else EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``heartline watch | head -1``): not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except (CliError, HeartlineError, ProtocolError, OSError) as error:
        status_code, message = failure(error, ctx)
        tell(f"heartline: {one_line(message)}")
        return status_code
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
