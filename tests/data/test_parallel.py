"""ordered_map keeps task order and pulls tasks lazily (constant memory on huge corpora)."""

from __future__ import annotations

from musicvae.data.parallel import ordered_map


def test_results_come_in_task_order_with_processes():
    assert list(ordered_map(abs, [-3, 1, -2, 5, -8], workers=2)) == [3, 1, 2, 5, 8]
    assert list(ordered_map(abs, iter([-1, -2]), workers=1)) == [1, 2]


def test_tasks_are_pulled_lazily():
    pulled = []

    def tasks():
        for k in range(1000):
            pulled.append(k)
            yield -k

    results = ordered_map(abs, tasks(), workers=2, in_flight_per_worker=4)
    assert next(results) == 0
    assert len(pulled) <= 2 * 4 + 1  # never the whole corpus at once
    assert list(results)[-1] == 999
