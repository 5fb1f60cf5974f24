"""Saved credentials of the ``heartline`` command line: one JSON file per profile.

A profile is one device's identity in one pair (hub, pair, member, device,
token). Several profiles let two partners share one machine in a demo, or one
person keep a test pair beside the real one.

Where: ``$XDG_CONFIG_HOME/heartline/profiles/<name>.json``, by default
``~/.config/heartline/profiles/<name>.json``. The token in it acts as the
partner, so the folders are created ``0700`` and each file is written ``0600``
atomically: the text goes to a temporary file that is private from its first
byte (``mkstemp``), is flushed to disk, and then replaces the profile with
``os.replace``. A crash leaves the old profile or the new one, never half of
one, and the token is never readable by others, not even for a moment.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import HeartlineError
from .http import Credentials

__all__ = [
    "BadProfileName",
    "NoProfile",
    "Profile",
    "ProfileError",
    "config_home",
    "delete",
    "exists",
    "load",
    "names",
    "path_of",
    "profiles_dir",
    "save",
]

FORMAT_VERSION = 1
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
"""A file name on every system: no separators, no leading dot (temp files start with one)."""

Warn = Callable[[str], None]


class ProfileError(HeartlineError):
    """A profile could not be read, written or named."""


class NoProfile(ProfileError):
    """There is no usable profile of that name: never saved, deleted, or damaged."""


class BadProfileName(ProfileError):
    """A profile name that cannot be a file name."""


@dataclass(frozen=True, slots=True)
class Profile:
    """One device's credentials in one pair; keep the token secret."""

    name: str
    hub: str
    """The hub's HTTP base URL, e.g. ``http://127.0.0.1:8080``."""
    pair: str
    member: str
    device: str
    token: str = field(repr=False)
    partner: str | None = None

    @classmethod
    def from_credentials(cls, name: str, credentials: Credentials) -> Profile:
        return cls(
            name=name,
            hub=credentials.hub,
            pair=credentials.pair,
            member=credentials.member,
            device=credentials.device,
            token=credentials.token,
            partner=credentials.partner,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "hub": self.hub,
            "pair": self.pair,
            "member": self.member,
            "device": self.device,
            "token": self.token,
            "partner": self.partner,
        }

    @classmethod
    def from_json(cls, name: str, data: object) -> Profile:
        """Raises ValueError naming what is missing or wrong."""
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        values = {key: data.get(key) for key in ("hub", "pair", "member", "device", "token")}
        missing = sorted(key for key, value in values.items() if not isinstance(value, str))
        if missing:
            raise ValueError(f"missing {', '.join(missing)}")
        partner = data.get("partner")
        return cls(name=name, partner=partner if isinstance(partner, str) else None, **values)  # type: ignore[arg-type]


def config_home(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME``, or ``~/.config`` when it is unset, empty or relative (XDG spec)."""
    env = os.environ if environ is None else environ
    configured = env.get("XDG_CONFIG_HOME", "")
    if configured and Path(configured).is_absolute():
        return Path(configured)
    return Path.home() / ".config"


def profiles_dir(environ: Mapping[str, str] | None = None) -> Path:
    return config_home(environ) / "heartline" / "profiles"


def path_of(name: str, *, directory: Path | None = None) -> Path:
    _check_name(name)
    return (directory or profiles_dir()) / f"{name}.json"


def exists(name: str, *, directory: Path | None = None) -> bool:
    return path_of(name, directory=directory).is_file()


def names(*, directory: Path | None = None) -> list[str]:
    """The saved profiles' names, sorted."""
    folder = directory or profiles_dir()
    if not folder.is_dir():
        return []
    return sorted(
        path.stem for path in folder.glob("*.json") if _NAME.fullmatch(path.stem) and path.is_file()
    )


def save(profile: Profile, *, directory: Path | None = None) -> Path:
    """Write ``profile`` privately and atomically; its path."""
    path = path_of(profile.name, directory=directory)
    try:
        _make_private_dirs(path.parent)
        _write_private(path, json.dumps(profile.to_json(), indent=2) + "\n")
    except OSError as error:
        raise ProfileError(f"cannot save profile {profile.name!r} at {path}: {error}") from None
    return path


def load(name: str, *, directory: Path | None = None, warn: Warn | None = None) -> Profile:
    """The profile ``name``; :class:`NoProfile` if there is none or it is unreadable.

    A file others may read still loads (refusing would lock the user out of
    their pair), but ``warn`` (stderr by default) is told how to fix it.
    """
    path = path_of(name, directory=directory)
    try:
        text = path.read_text(encoding="utf-8")
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        raise NoProfile(f"no profile {name!r} (looked for {path})") from None
    except OSError as error:
        raise NoProfile(f"cannot read profile {name!r} at {path}: {error}") from None
    if mode & 0o077 and os.name == "posix":
        (warn or _warn_on_stderr)(
            f"warning: {path} is readable by others (mode {mode:04o}): "
            f"its token acts as you; fix it with `chmod 600 {path}`"
        )
    try:
        return Profile.from_json(name, json.loads(text))
    except ValueError as error:
        raise NoProfile(f"profile {name!r} at {path} is damaged: {error}") from None


def delete(name: str, *, directory: Path | None = None) -> bool:
    """Remove the profile; False if there was none."""
    try:
        path_of(name, directory=directory).unlink()
    except FileNotFoundError:
        return False
    return True


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise BadProfileName(
            f"invalid profile name {name!r}: use up to 64 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit"
        )


def _make_private_dirs(folder: Path) -> None:
    """Create the profiles folder 0700, and tighten it (and ``heartline/``) if it exists.

    A missing parent such as ``~/.config`` is created 0700 too, as XDG asks,
    but an existing one is left as the user has it: only our folders are ours.
    """
    folder.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    folder.mkdir(mode=PRIVATE_DIR, exist_ok=True)
    ours = [folder, folder.parent] if folder.parent.name == "heartline" else [folder]
    for path in ours:
        if stat.S_IMODE(path.stat().st_mode) != PRIVATE_DIR:
            path.chmod(PRIVATE_DIR)


def _write_private(path: Path, text: str) -> None:
    """``mkstemp`` creates the file 0600, so the token is private from the first byte."""
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _warn_on_stderr(message: str) -> None:
    sys.stderr.write(f"heartline: {message}\n")
