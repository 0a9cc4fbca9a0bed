"""Placement of row blocks on workers and their shares per thread (no Dask needed)."""

from __future__ import annotations

import pytest

from bcekit.distributed._placement import assign, shares


def loads(sizes, target, workers):
    return {w: sum(s for s, t in zip(sizes, target, strict=True) if t == w) for w in workers}


def test_balanced_blocks_stay_where_they_are():
    sizes = [10] * 8
    holders = ["a", "b"] * 4
    assert assign(sizes, holders, {"a": 1, "b": 1}) == holders


def test_blocks_all_on_one_worker_are_spread_evenly_moving_half():
    sizes = [10] * 8
    target = assign(sizes, ["a"] * 8, {"a": 1, "b": 1})
    assert loads(sizes, target, "ab") == {"a": 40, "b": 40}
    assert target.count("a") == 4  # only the blocks that had to move did


def test_loads_follow_the_threads_of_each_worker():
    sizes = [7, 3, 5, 5, 9, 1, 4, 6, 2, 8, 5, 5]
    target = assign(sizes, [None] * len(sizes), {"a": 2, "b": 1})
    got = loads(sizes, target, "ab")
    assert abs(got["a"] - 2 * got["b"]) <= max(sizes)
    assert set(target) == {"a", "b"}


def test_unequal_blocks_keep_every_worker_within_one_block_of_its_share():
    sizes = [50, 1, 1, 1, 40, 2, 3, 30]
    target = assign(sizes, ["a"] * 4 + ["b"] * 4, {"a": 1, "b": 1, "c": 1})
    share = sum(sizes) / 3
    for load in loads(sizes, target, "abc").values():
        assert abs(load - share) <= max(sizes)


def test_assign_rejects_no_workers_and_misaligned_holders():
    with pytest.raises(ValueError, match="threads must name"):
        assign([1], [None], {})
    with pytest.raises(ValueError, match="one entry per block"):
        assign([1, 2], [None], {"a": 1})


def test_shares_use_each_block_once_with_about_equal_bytes():
    sizes = [9, 1, 4, 4, 2, 6, 3, 3]
    groups = shares(list(range(8)), sizes, 3)
    assert sorted(i for g in groups for i in g) == list(range(8))
    weights = [sum(sizes[i] for i in g) for g in groups]
    assert max(weights) - min(weights) <= max(sizes)
    assert all(g == sorted(g) for g in groups)
    assert shares([4, 2], sizes, 5) == [[2], [4]]
