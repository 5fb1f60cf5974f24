"""An operator configures the hub by flags or environment variables (settings.py).

Every setting has a flag and an environment variable, listed by ``--help``;
a flag beats the environment, which beats the default; a value the hub
cannot run with stops it at once with a message naming the setting.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from heartline_hub.settings import SETTINGS, Setting, Settings, load_settings

DEFAULTS = Settings()

SAMPLES: dict[str, tuple[str, str]] = {
    "host": ("127.0.0.2", "127.0.0.3"),
    "redis_url": ("redis://127.0.0.1:7001/1", "redis://127.0.0.1:7002/2"),
    "data_dir": ("/tmp/hl-flag", "/tmp/hl-env"),
    "hub_id": ("hub-from-flag", "hub-from-env"),
    "log_level": ("debug", "warning"),
    "log_format": ("json", "console"),
    "event_loop": ("uvloop", "asyncio"),
    "max_space_seconds": ("7200", "3600"),
    "retention_days": ("7.5", "2.5"),
    "handshake_timeout_s": ("3.5", "4.5"),
    "drain_timeout_s": ("1.5", "2.5"),
    "heartbeat_ms": ("4100", "4300"),
    "max_frame_bytes": ("4100", "4300"),
    "timer_poll_ms": ("410", "430"),
    "timer_lease_ms": ("4100", "4300"),
    "redis_wait_replicas": ("1", "2"),
    "redis_wait_ms": ("250", "750"),
    "websocket_deflate": ("off", "on"),
}
"""A valid flag value and environment value per setting; the latter is not the default."""


def samples(setting: Setting) -> tuple[str, str]:
    return SAMPLES.get(setting.name, ("41", "43"))


def parsed(setting: Setting, raw: str) -> object:
    return setting.parse(raw)


def help_text() -> str:
    environ = {name: value for name, value in os.environ.items() if name != "COLUMNS"}
    done = subprocess.run(
        [sys.executable, "-m", "heartline_hub", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        env=environ,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_help_lists_every_setting_with_its_flag_and_environment_variable() -> None:
    text = help_text()
    missing = [
        setting.name for setting in SETTINGS if setting.flag not in text or setting.env not in text
    ]
    assert not missing, f"--help does not mention: {missing}\n{text}"


def test_every_setting_is_a_field_of_the_settings() -> None:
    assert {setting.name for setting in SETTINGS} == set(Settings.__dataclass_fields__)


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda setting: setting.name)
def test_a_flag_beats_the_environment_which_beats_the_default(setting: Setting) -> None:
    flag_value, env_value = samples(setting)
    assert parsed(setting, env_value) != getattr(DEFAULTS, setting.name)
    assert parsed(setting, flag_value) != parsed(setting, env_value)

    by_flag = load_settings([setting.flag, flag_value], {setting.env: env_value})
    by_env = load_settings([], {setting.env: env_value})
    by_default = load_settings([], {})

    assert getattr(by_flag, setting.name) == parsed(setting, flag_value)
    assert getattr(by_env, setting.name) == parsed(setting, env_value)
    assert getattr(by_default, setting.name) == getattr(DEFAULTS, setting.name)


def test_the_environment_of_the_process_is_read_when_none_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HEARTLINE_PORT", "9123")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:7003/3")
    settings = load_settings([])
    assert (settings.port, settings.redis_url) == (9123, "redis://127.0.0.1:7003/3")


def test_an_empty_environment_variable_means_the_default() -> None:
    assert load_settings([], {"HEARTLINE_PORT": ""}).port == DEFAULTS.port


def test_the_limits_follow_the_settings() -> None:
    settings = load_settings(
        ["--min-space-seconds", "30", "--max-space-seconds", "600"],
        {"HEARTLINE_SPACE_ENDING_SECONDS": "20", "HEARTLINE_MAX_FRAME_BYTES": "4096"},
    )
    limits = settings.limits
    assert (limits.min_space_seconds, limits.max_space_seconds) == (30, 600)
    assert (limits.space_ending_seconds, limits.max_frame_bytes) == (20, 4096)
    assert load_settings([], {"HEARTLINE_RETENTION_DAYS": "0.5"}).retention_ms == 43_200_000


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"HEARTLINE_PORT": "abc"}, "HEARTLINE_PORT"),
        ({"HEARTLINE_HEARTBEAT_MS": "1.5"}, "HEARTLINE_HEARTBEAT_MS"),
        ({"HEARTLINE_RETENTION_DAYS": "forever"}, "HEARTLINE_RETENTION_DAYS"),
        (
            {"HEARTLINE_MIN_SPACE_SECONDS": "600", "HEARTLINE_MAX_SPACE_SECONDS": "60"},
            "min_space_seconds",
        ),
        ({"HEARTLINE_MAX_FRAME_BYTES": "0"}, "HEARTLINE_MAX_FRAME_BYTES"),
        ({"HEARTLINE_LOG_FORMAT": "xml"}, "log_format"),
        ({"HEARTLINE_EVENT_LOOP": "trio"}, "event_loop"),
        ({"HEARTLINE_WEBSOCKET_DEFLATE": "maybe"}, "HEARTLINE_WEBSOCKET_DEFLATE"),
        ({"REDIS_URL": "redis+cluster://127.0.0.1:7000/2"}, "REDIS_URL"),
        ({"REDIS_URL": "http://127.0.0.1:6379"}, "REDIS_URL"),
    ],
    ids=[
        "port-abc",
        "heartbeat-float",
        "retention-word",
        "min-above-max",
        "frame-0",
        "log-xml",
        "loop-trio",
        "deflate-maybe",
        "cluster-with-database",
        "not-redis",
    ],
)
def test_an_invalid_value_stops_with_a_message_naming_the_setting(
    environ: dict[str, str], named: str
) -> None:
    with pytest.raises(SystemExit) as stopped:
        load_settings([], environ)
    assert named in str(stopped.value.code)


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"HEARTLINE_PORT": "70000"}, "port"),
        ({"HEARTLINE_HEARTBEAT_MS": "0"}, "heartbeat_ms"),
        ({"HEARTLINE_TIMER_SHARDS": "0"}, "timer_shards"),
        ({"HEARTLINE_INVITE_TTL_S": "0"}, "invite_ttl_s"),
    ],
    ids=["port-70000", "heartbeat-0", "timer-shards-0", "invite-ttl-0"],
)
def test_a_value_out_of_range_stops_with_a_message_naming_the_setting(
    environ: dict[str, str], named: str
) -> None:
    """A hub with these would fail later (no port, a welcome it cannot send,
    timers divided over zero shards, invites Redis refuses to store)."""
    with pytest.raises(SystemExit) as stopped:
        load_settings([], environ)
    assert named in str(stopped.value.code).lower()


def test_an_invalid_flag_stops_with_a_usage_message(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        load_settings(["--port", "abc"], {})
    assert stopped.value.code == 2
    assert "--port" in capsys.readouterr().err


def test_the_hub_refuses_to_start_with_an_invalid_environment(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "heartline_hub"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
        env={**os.environ, "HEARTLINE_PORT": "abc"},
        check=False,
    )
    assert done.returncode != 0
    assert "HEARTLINE_PORT" in done.stderr
    assert "Traceback" not in done.stderr
