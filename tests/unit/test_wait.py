"""The tests' wait helpers: they return what they waited for, and a timeout says what and how long."""

from __future__ import annotations

import itertools

import pytest

from tests.support.net import async_wait_for, wait_for

pytestmark = pytest.mark.unit


def test_returns_the_first_accepted_result() -> None:
    counter = itertools.count()
    assert wait_for(lambda: next(counter), 10, "a truthy count") == 1
    assert wait_for(lambda: next(counter), 10, "a count of 5", until=lambda n: n >= 5) == 5


def test_a_timeout_names_what_was_awaited_for_how_long_and_the_last_result() -> None:
    with pytest.raises(TimeoutError, match=r"^timed out after 0\.05s waiting for the flag$"):
        wait_for(lambda: False, 0.05, "the flag")
    with pytest.raises(TimeoutError, match=r"after 0\.05s waiting for 3 items; last: \[1, 2\]$"):
        wait_for(lambda: [1, 2], 0.05, "3 items", until=lambda got: len(got) == 3)
    with pytest.raises(TimeoutError, match=r"last: 'xxxx.* \.\.\.$") as info:
        wait_for(lambda: "x" * 10_000, 0.05, "a short text", until=lambda got: len(got) < 10)
    assert len(str(info.value)) < 5000


async def test_async_accepts_plain_and_awaitable_probes() -> None:
    counter = itertools.count()

    async def read() -> int:
        return next(counter)

    assert await async_wait_for(read, 10, "a count of 3", until=lambda n: n >= 3) == 3
    assert await async_wait_for(lambda: next(counter), 10, "a truthy count") == 4
    with pytest.raises(TimeoutError, match=r"after 0\.05s waiting for a count of 100; last: \d+$"):
        await async_wait_for(read, 0.05, "a count of 100", until=lambda n: n >= 100)
