"""Each worker's first share time and miner agent as the engine keeps and drains them."""

from __future__ import annotations

from poolstats.domain.share import Status
from poolstats.engine.engine import Engine
from poolstats.engine.snapshot import Flush
from tests.engine.helpers import DAY, T0, batch

A = Status.ACCEPT


def facts(flush: Flush) -> dict[str, tuple[int, str, bool]]:
    """worker name -> (first share time, agent, new facts) of a drain."""
    w = flush.workers
    assert w.first_share_time is not None and w.miner_agent is not None
    assert w.new_facts is not None
    return {
        name: (int(first), agent, bool(new))
        for name, first, agent, new in zip(
            w.worker_name, w.first_share_time, w.miner_agent, w.new_facts, strict=True
        )
    }


def test_first_share_time_is_the_earliest_counted_and_new_once() -> None:
    engine = Engine()
    shares = [
        (1, "a", T0 + 7.9, 1, A),
        (1, "a", T0 + 5.5, 1, Status.REJECT),
        (1, "b", T0 + 9, 1, A),
    ]
    engine.apply(batch(engine, shares), T0 + 10)
    # a: the reject at T0 + 5.5 came first (any status counts), in whole seconds
    assert facts(engine.drain(T0 + 10)) == {"a": (T0 + 5, "", True), "b": (T0 + 9, "", True)}
    engine.apply(batch(engine, [(1, "a", T0 + 20, 1, A)]), T0 + 20)
    # b's share is still whole in every window: its row is unchanged and not drained
    assert facts(engine.drain(T0 + 20)) == {"a": (T0 + 5, "", False)}
    # a late share older than the first one moves it back, and is a new fact again
    engine.apply(batch(engine, [(1, "a", T0 + 2, 1, A)]), T0 + 30)
    assert facts(engine.drain(T0 + 30))["a"] == (T0 + 2, "", True)


def test_a_share_ahead_of_now_is_first_at_now() -> None:
    engine = Engine()
    engine.apply(batch(engine, [(1, "a", T0 + 100, 1, A)]), T0)  # counted as now
    assert facts(engine.drain(T0))["a"][0] == T0


def test_the_agent_is_that_of_the_newest_share_naming_one() -> None:
    engine = Engine()
    shares = [(1, "a", T0 + 2, 1, A), (1, "a", T0 + 1, 1, A), (1, "b", T0 + 1, 1, A)]
    engine.apply(batch(engine, shares, agents=["bmminer/2.0.0", "cgminer/4.10.0", None]), T0 + 3)
    assert facts(engine.drain(T0 + 3)) == {
        "a": (T0 + 1, "bmminer/2.0.0", True),
        "b": (T0 + 1, "", True),
    }
    # the same agent again, or none, or an empty one: nothing new, the agent stays
    engine.apply(batch(engine, [(1, "a", T0 + 4, 1, A)], agents=["bmminer/2.0.0"]), T0 + 4)
    engine.apply(batch(engine, [(1, "a", T0 + 5, 1, A)]), T0 + 5)
    engine.apply(batch(engine, [(1, "a", T0 + 6, 1, A)], agents=[""]), T0 + 6)
    assert facts(engine.drain(T0 + 6))["a"] == (T0 + 1, "bmminer/2.0.0", False)
    # another one replaces it
    engine.apply(batch(engine, [(1, "a", T0 + 7, 1, A)], agents=["cgminer/4.11.1"]), T0 + 7)
    assert facts(engine.drain(T0 + 7))["a"] == (T0 + 1, "cgminer/4.11.1", True)


def test_control_characters_never_reach_an_agent() -> None:
    engine = Engine()
    engine.apply(batch(engine, [(1, "a", T0, 1, A)], agents=[" cg\x00miner\n/4 "]), T0)
    assert facts(engine.drain(T0))["a"][1] == "cgminer/4"


def test_export_and_restore_keep_the_facts() -> None:
    engine = Engine()
    shares = [(1, "a", T0, 1, A), (2, "b", T0 + 3, 1, A)]
    engine.apply(batch(engine, shares, agents=["cgminer/4.10.0", None]), T0 + 5)
    engine.drain(T0 + 5)
    restored = Engine.restore(engine.export())
    restored.apply(batch(restored, [(1, "a", T0 + 9, 1, A), (2, "b", T0 + 9, 1, A)]), T0 + 10)
    assert facts(restored.drain(T0 + 10)) == {
        "a": (T0, "cgminer/4.10.0", False),
        "b": (T0 + 3, "", False),
    }
    # the restored agent table still codes the agents it had
    restored.apply(batch(restored, [(2, "b", T0 + 11, 1, A)], agents=["cgminer/4.10.0"]), T0 + 11)
    assert restored.agents == ["cgminer/4.10.0"]
    assert facts(restored.drain(T0 + 11))["b"] == (T0 + 3, "cgminer/4.10.0", True)


def test_a_checkpoint_older_than_the_facts_restores_them_unknown() -> None:
    engine = Engine()
    engine.apply(batch(engine, [(1, "a", T0, 1, A)], agents=["cgminer/4.10.0"]), T0)
    engine.drain(T0)
    old = {k: v for k, v in engine.export().items() if k not in ("w_first", "w_agent", "w_facts")}
    restored = Engine.restore(old)
    restored.apply(batch(restored, [(1, "a", T0 + 60, 1, A)]), T0 + 60)
    # the store keeps the earlier time it has: 0 and "" never overwrite (see the store tests)
    assert facts(restored.drain(T0 + 60))["a"] == (T0 + 60, "", True)


def test_agents_no_worker_holds_any_more_are_forgotten() -> None:
    engine = Engine()
    for i in range(3000):  # one worker through 3000 agents: only the newest is worth keeping
        engine.apply(batch(engine, [(1, "a", T0 + i, 1, A)], agents=[f"miner/{i}"]), T0 + i)
    engine.apply(batch(engine, [(2, "b", T0 + 2999, 1, A)], agents=["other/1"]), T0 + 2999)
    assert len(engine.agents) == 3001
    engine.drain(T0 + 3000)
    assert engine.evict(T0 + 3000) == 0
    assert sorted(engine.agents) == ["miner/2999", "other/1"]
    flush = engine.drain(T0 + 3001)
    assert {k: v[1] for k, v in facts(flush).items()} == {"a": "miner/2999", "b": "other/1"}


def test_an_evicted_worker_comes_back_with_a_new_first_share_time() -> None:
    """The engine forgets it; the store keeps the earlier one (the earliest it is given)."""
    engine = Engine()
    engine.apply(batch(engine, [(1, "a", T0, 1, A)], agents=["cgminer/4.10.0"]), T0)
    engine.drain(T0)
    engine.apply(batch(engine, [(1, "z", T0 + 3 * DAY, 1, A)]), T0 + 3 * DAY)
    engine.drain(T0 + 3 * DAY)
    assert engine.evict(T0 + 3 * DAY) == 1
    engine.apply(batch(engine, [(1, "a", T0 + 3 * DAY, 1, A)]), T0 + 3 * DAY)
    flush = engine.drain(T0 + 3 * DAY + 1)
    assert facts(flush)["a"] == (T0 + 3 * DAY, "", True)
    assert flush.workers.stored is not None
    assert not flush.workers.stored[flush.workers.worker_name.index("a")]


def test_facts_cost_nine_bytes_a_worker() -> None:
    """uint32 seconds, an int32 agent code, a flag: the Python strings are per agent."""
    engine = Engine()
    assert sum(getattr(engine, n).itemsize for n in ("w_first", "w_agent", "w_facts")) == 9
    assert engine.bytes_per_worker() < 1024


def test_a_share_naming_no_agent_does_not_hide_an_earlier_one_that_does() -> None:
    engine = Engine()
    shares = [(1, "a", T0 + 5, 1, A), (1, "a", T0 + 9, 1, A), (1, "a", T0 + 1, 1, A)]
    engine.apply(batch(engine, shares, agents=["new/2", None, "old/1"]), T0 + 10)
    assert facts(engine.drain(T0 + 10))["a"] == (T0 + 1, "new/2", True)  # T0 + 5 is newest
