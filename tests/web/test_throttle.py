from retenta.web.throttle import LoginThrottle


def test_allows_up_to_the_limit_then_blocks_until_the_oldest_failure_ages_out() -> None:
    t = LoginThrottle(max_failures=3, window_s=100)
    for now in (0, 10, 20):
        assert t.retry_after("k", now=now) == 0
        t.fail("k", now=now)
    assert t.retry_after("k", now=21) == 79
    assert t.retry_after("k", now=100.5) == 0
    assert t.retry_after("other", now=21) == 0


def test_clear_forgets_a_key() -> None:
    t = LoginThrottle(max_failures=1, window_s=100)
    t.fail("k", now=0)
    assert t.retry_after("k", now=1) > 0
    t.clear("k")
    assert t.retry_after("k", now=1) == 0
