from agents.reading_clock import ReadingClock


def test_quick_messages_leave_the_clock_at_wall_time() -> None:
    clock = ReadingClock(stall_s=1.0)
    for t in (10.0, 10.5, 11.0):
        clock.message_started(t)
        clock.message_ended(t + 0.9)
    assert clock.read(20.0) == 20.0


def test_a_stall_does_not_count_while_it_lasts_nor_after() -> None:
    clock = ReadingClock(stall_s=1.0)
    clock.message_started(100.0)
    assert clock.read(101.0) == 101.0  # within the allowance: still reading
    assert clock.read(160.0) == 101.0  # Cassandra is down: the clock waits
    clock.message_ended(170.0)
    assert clock.read(175.0) == 106.0  # 69 s of stall left out, for good
