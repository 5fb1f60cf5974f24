"""The hub's process runs on uvloop with a tuned garbage collector (runtime.py)."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
import uvloop

from heartline_hub.runtime import OLDER_THRESHOLD, YOUNG_THRESHOLD, new_event_loop


@pytest.mark.parametrize(
    ("kind", "loop_class"),
    [("uvloop", uvloop.Loop), ("asyncio", asyncio.BaseEventLoop)],
)
def test_the_event_loop_is_the_one_the_setting_names(kind: str, loop_class: type) -> None:
    loop = new_event_loop(kind)
    try:
        assert isinstance(loop, loop_class)
        assert loop.run_until_complete(asyncio.sleep(0, result="ran")) == "ran"
    finally:
        loop.close()


def test_start_up_objects_are_frozen_and_young_collections_are_rarer() -> None:
    """In a process of its own: freezing would otherwise reach into the test runner."""
    probe = (
        "import gc; from heartline_hub.runtime import tune_garbage_collector; "
        "before = gc.get_freeze_count(); tune_garbage_collector(); "
        "print(before, gc.get_freeze_count(), *gc.get_threshold())"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=30, check=True
    )
    before, frozen, young, middle, old = map(int, done.stdout.split())

    assert before == 0
    assert frozen > 1000
    assert (young, middle, old) == (YOUNG_THRESHOLD, OLDER_THRESHOLD, OLDER_THRESHOLD)
