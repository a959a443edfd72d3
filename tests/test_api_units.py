"""Pure parts of the gateway: the per-key rate limiter and the /sd and /text2gif checks."""

from __future__ import annotations

import pytest

from api.errors import ApiError
from api.ratelimit import RateLimiter
from api.validation import check_gif, check_sd


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_rate_limiter_allows_the_rate_with_bursts_up_to_it():
    clock = Clock()
    limiter = RateLimiter({"free": 2.0, "tier2": -1.0}, clock=clock)
    assert await limiter.take(1, "free") is None
    assert await limiter.take(1, "free") is None
    wait = await limiter.take(1, "free")
    assert wait == pytest.approx(0.5)
    assert RateLimiter.retry_after(wait) == "1"
    clock.now += 0.5
    assert await limiter.take(1, "free") is None
    assert await limiter.take(1, "free") is not None
    # another key is not affected; an unlimited tier never waits
    assert await limiter.take(2, "free") is None
    assert [await limiter.take(3, "tier2") for _ in range(1000)] == [None] * 1000


async def test_slow_rates_wait_whole_seconds():
    clock = Clock()
    limiter = RateLimiter({"free": 0.1}, clock=clock)
    assert await limiter.take(1, "free") is None
    wait = await limiter.take(1, "free")
    assert wait == pytest.approx(10.0)
    assert RateLimiter.retry_after(wait) == "10"
    clock.now += 10
    assert await limiter.take(1, "free") is None


async def test_full_buckets_are_swept():
    clock = Clock()
    limiter = RateLimiter({"free": 1.0}, clock=clock, sweep_every=3)
    for user in range(3):
        await limiter.take(user, "free")
    clock.now += 5
    await limiter.take(10, "free")
    await limiter.take(11, "free")
    await limiter.take(12, "free")
    assert set(limiter._buckets) <= {10, 11, 12}


def sd(**extra):
    return {"token": "vc_x", "model": "sdxl-base", "prompt": "a fox", **extra}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"token": "t", "prompt": "a fox"}, "model"),
        ({"token": "t", "model": "sdxl-base"}, "prompt"),
        (sd(prompt="   "), "prompt"),
        (sd(prompt="x" * 1001), "prompt"),
        (sd(negative_prompt="x" * 1001), "negative_prompt"),
        (sd(steps=0), "steps"),
        (sd(steps=36), "steps"),
        (sd(steps="30"), "steps"),
        (sd(width=63), "width"),
        (sd(width=1032), "width"),
        (sd(height=100), "height"),
        (sd(cfg_scale=0.5), "cfg_scale"),
        (sd(cfg_scale=31), "cfg_scale"),
        (sd(loras=["a"]), "loras"),
        (sd(loras={f"l{i}": 1 for i in range(6)}), "loras"),
        (sd(loras={"detail": "high"}), "loras.detail"),
        (sd(sampler=7), "sampler"),
    ],
)
def test_sd_parameters_out_of_range(body, param):
    with pytest.raises(ApiError) as caught:
        check_sd(body)
    assert caught.value.status == 400
    assert caught.value.param == param


def test_sd_parameters_in_range_are_passed_on_without_the_token():
    params = check_sd(
        sd(
            negative_prompt="blurry",
            sampler="Euler",
            steps=35,
            width=64,
            height=1024,
            cfg_scale=7.5,
            loras={"detail": 1, "film": 0.5},
            unknown="dropped",
        )
    )
    assert params == {
        "model": "sdxl-base",
        "prompt": "a fox",
        "negative_prompt": "blurry",
        "sampler": "Euler",
        "steps": 35,
        "width": 64,
        "height": 1024,
        "cfg_scale": 7.5,
        "loras": {"detail": 1, "film": 0.5},
    }
    assert check_sd(sd(steps=1.0, cfg_scale=1))["steps"] == 1


def test_gif_needs_a_prompt():
    assert check_gif({"token": "t", "prompt": "a cat"}) == {"prompt": "a cat"}
    for body in ({"token": "t"}, {"token": "t", "prompt": ""}, {"token": "t", "prompt": 5}):
        with pytest.raises(ApiError) as caught:
            check_gif(body)
        assert caught.value.param == "prompt"
