"""metrics.child: labels() once per label set, the same series every time."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from app import metrics


def test_a_kept_child_is_the_labelled_series():
    counter = Counter("t_children_total", "test", ["a", "b"], registry=CollectorRegistry())
    first = metrics.child(counter, "x", "1")
    assert metrics.child(counter, "x", "1") is first is counter.labels("x", "1")
    first.inc()
    metrics.child(counter, "x", "2").inc(2)
    assert counter.labels("x", "1")._value.get() == 1 and counter.labels("x", "2")._value.get() == 2
