"""Saved credentials: private files written atomically, in the user's config folder."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from heartline import profiles
from heartline.profiles import BadProfileName, NoProfile, Profile, ProfileError


def a_profile(name: str = "a", token: str = "hlt_secret-token") -> Profile:
    return Profile(
        name=name,
        hub="http://127.0.0.1:8080",
        pair="p_1",
        member="m_A",
        device="d_A1",
        token=token,
        partner="m_B",
    )


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Where the default layout would put them: ``<config>/heartline/profiles``."""
    return tmp_path / "config" / "heartline" / "profiles"


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """A umask that would leave new files world-readable: privacy must not rely on it."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def test_a_saved_profile_loads_back_and_keeps_its_token_out_of_repr(folder: Path) -> None:
    saved = a_profile()
    profiles.save(saved, directory=folder)
    loaded = profiles.load("a", directory=folder)
    assert loaded == saved
    assert "hlt_secret-token" not in repr(loaded)


def test_profiles_live_in_the_xdg_config_folder() -> None:
    assert profiles.profiles_dir({"XDG_CONFIG_HOME": "/x/conf"}) == Path(
        "/x/conf/heartline/profiles"
    )
    home_default = Path.home() / ".config" / "heartline" / "profiles"
    assert profiles.profiles_dir({}) == home_default
    assert profiles.profiles_dir({"XDG_CONFIG_HOME": "relative/conf"}) == home_default
    assert profiles.path_of("b", directory=Path("/p")) == Path("/p/b.json")


def test_the_environment_chooses_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    path = profiles.save(a_profile())
    assert path == tmp_path / "heartline" / "profiles" / "a.json"
    assert profiles.load("a").token == "hlt_secret-token"


@pytest.mark.usefixtures("permissive_umask")
def test_the_folders_are_0700_and_the_file_0600_whatever_the_umask(folder: Path) -> None:
    path = profiles.save(a_profile(), directory=folder)
    assert mode_of(path) == 0o600
    assert mode_of(folder) == 0o700
    assert mode_of(folder.parent) == 0o700


def test_saving_tightens_folders_that_were_open(folder: Path) -> None:
    folder.mkdir(parents=True, mode=0o755)
    folder.chmod(0o755)
    folder.parent.chmod(0o755)
    profiles.save(a_profile(), directory=folder)
    assert (mode_of(folder), mode_of(folder.parent)) == (0o700, 0o700)


def test_rewriting_a_profile_replaces_it_and_leaves_no_temporary_file(folder: Path) -> None:
    profiles.save(a_profile(token="hlt_first"), directory=folder)
    profiles.save(a_profile(token="hlt_second"), directory=folder)
    assert sorted(path.name for path in folder.iterdir()) == ["a.json"]
    assert profiles.load("a", directory=folder).token == "hlt_second"


def test_a_write_that_cannot_finish_leaves_no_temporary_file(folder: Path) -> None:
    (folder / "a.json").mkdir(parents=True)  # os.replace cannot put a file there
    with pytest.raises(ProfileError, match="cannot save profile 'a'"):
        profiles.save(a_profile(), directory=folder)
    assert sorted(path.name for path in folder.iterdir()) == ["a.json"]


def test_names_lists_saved_profiles_only(folder: Path) -> None:
    assert profiles.names(directory=folder) == []
    for name in ("b", "a", "work.2"):
        profiles.save(a_profile(name), directory=folder)
    (folder / ".a.json.x1.tmp").write_text("{}")
    (folder / "notes.txt").write_text("")
    assert profiles.names(directory=folder) == ["a", "b", "work.2"]


def test_a_missing_profile_is_no_profile(folder: Path) -> None:
    with pytest.raises(NoProfile, match="no profile 'a'"):
        profiles.load("a", directory=folder)
    assert not profiles.exists("a", directory=folder)


def test_a_damaged_profile_is_no_profile_and_says_what_is_wrong(folder: Path) -> None:
    profiles.save(a_profile(), directory=folder)
    path = folder / "a.json"
    path.write_text('{"hub": "http://h", "pair": "p_1"}')
    with pytest.raises(NoProfile, match="damaged: missing device, member, token"):
        profiles.load("a", directory=folder)
    path.write_text("not json")
    with pytest.raises(NoProfile, match="damaged"):
        profiles.load("a", directory=folder)


def test_a_profile_others_can_read_loads_with_a_warning(folder: Path) -> None:
    path = profiles.save(a_profile(), directory=folder)
    path.chmod(0o644)
    warnings: list[str] = []
    assert profiles.load("a", directory=folder, warn=warnings.append).token == "hlt_secret-token"
    assert len(warnings) == 1
    assert "readable by others" in warnings[0]
    assert f"chmod 600 {path}" in warnings[0]
    path.chmod(0o600)
    warnings.clear()
    profiles.load("a", directory=folder, warn=warnings.append)
    assert warnings == []


@pytest.mark.parametrize("name", ["", "../a", "a/b", ".hidden", "a b", "x" * 65])
def test_names_that_are_not_plain_file_names_are_refused(folder: Path, name: str) -> None:
    with pytest.raises(BadProfileName):
        profiles.save(a_profile(name), directory=folder)
    with pytest.raises(BadProfileName):
        profiles.load(name, directory=folder)


def test_delete_removes_a_profile_once(folder: Path) -> None:
    profiles.save(a_profile(), directory=folder)
    assert profiles.delete("a", directory=folder)
    assert not profiles.delete("a", directory=folder)
    assert profiles.names(directory=folder) == []
