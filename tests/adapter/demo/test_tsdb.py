"""MemoryTSDB: storage, windows, retention, the name index and label matchers."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.sources.demo.tsdb import Labels, Matcher, MemoryTSDB


def _values(db: MemoryTSDB, name: str, start: float, end: float) -> list[float]:
    (s,) = db.select([Matcher("__name__", "=", name)], start=start, end=end)
    return s.values.tolist()


def test_select_window_is_open_at_start_and_closed_at_end() -> None:
    db = MemoryTSDB()
    db.append_many({"__name__": "x"}, np.array([10.0, 20.0, 30.0]), np.array([1.0, 2.0, 3.0]))
    (s,) = db.select([Matcher("__name__", "=", "x")], start=10.0, end=30.0)
    assert s.timestamps.tolist() == [20.0, 30.0]
    assert s.values.tolist() == [2.0, 3.0]


def test_select_omits_series_without_samples_in_window() -> None:
    db = MemoryTSDB()
    db.append({"__name__": "x", "a": "1"}, 10.0, 1.0)
    db.append({"__name__": "x", "a": "2"}, 50.0, 2.0)
    found = db.select([Matcher("__name__", "=", "x")], start=40.0, end=60.0)
    assert [dict(s.labels) for s in found] == [{"__name__": "x", "a": "2"}]


def test_single_appends_grow_past_initial_capacity() -> None:
    db = MemoryTSDB()
    for i in range(1000):
        db.append({"__name__": "x"}, float(i), float(i * 2))
    assert _values(db, "x", -1.0, 2000.0) == [float(i * 2) for i in range(1000)]


def test_append_many_after_single_appends_keeps_order() -> None:
    db = MemoryTSDB()
    db.append({"__name__": "x"}, 1.0, 1.0)
    db.append_many({"__name__": "x"}, np.arange(2.0, 100.0), np.arange(2.0, 100.0))
    assert _values(db, "x", 0.0, 100.0) == list(np.arange(1.0, 100.0))


@pytest.mark.parametrize(
    ("existing", "timestamps", "values"),
    [
        ([5.0], [5.0, 6.0], [1.0, 2.0]),  # not after the last sample
        ([], [1.0, 1.0], [1.0, 2.0]),  # not strictly increasing
        ([], [2.0, 1.0], [1.0, 2.0]),  # decreasing
        ([], [1.0, 2.0], [1.0]),  # length mismatch
        ([], [[1.0, 2.0]], [[1.0, 2.0]]),  # not 1-D
        ([], [float("nan")], [1.0]),  # NaN timestamp
    ],
)
def test_append_many_rejects_bad_input(existing: list[float], timestamps: list[float], values: list[float]) -> None:
    db = MemoryTSDB()
    for t in existing:
        db.append({"__name__": "x"}, t, 0.0)
    with pytest.raises(ValueError):
        db.append_many({"__name__": "x"}, np.array(timestamps), np.array(values))


def test_append_rejects_out_of_order_and_duplicate_timestamps() -> None:
    db = MemoryTSDB()
    db.append({"__name__": "x"}, 10.0, 1.0)
    for t in (10.0, 9.0):
        with pytest.raises(ValueError, match="out-of-order"):
            db.append({"__name__": "x"}, t, 2.0)


def test_empty_label_values_are_the_same_as_absent_labels() -> None:
    db = MemoryTSDB()
    db.append({"__name__": "x", "a": "1", "b": ""}, 1.0, 1.0)
    db.append({"__name__": "x", "a": "1"}, 2.0, 2.0)
    assert len(db) == 1
    assert Labels({"a": "1", "b": ""}) == Labels({"a": "1"}) == {"a": "1"}
    assert hash(Labels({"a": "1", "b": ""})) == hash(Labels({"a": "1"}))


def test_slices_are_read_only_snapshots_that_survive_growth() -> None:
    db = MemoryTSDB()
    db.append_many({"__name__": "x"}, np.arange(10.0), np.arange(10.0))
    (s,) = db.select([Matcher("__name__", "=", "x")], start=-1.0, end=100.0)
    with pytest.raises(ValueError):
        s.values[0] = 99.0
    db.append_many({"__name__": "x"}, np.arange(10.0, 5000.0), np.zeros(4990))
    assert s.values.tolist() == list(np.arange(10.0))


def test_retention_hides_samples_older_than_newest_minus_retention() -> None:
    db = MemoryTSDB(retention_seconds=100.0)
    db.append_many({"__name__": "x"}, np.arange(0.0, 200.0, 10.0), np.arange(0.0, 200.0, 10.0))
    assert _values(db, "x", -1.0, 1000.0) == list(np.arange(100.0, 200.0, 10.0))


def test_retention_forgets_series_that_stopped_reporting() -> None:
    db = MemoryTSDB(retention_seconds=100.0)
    db.append({"__name__": "gone"}, 0.0, 1.0)
    for t in range(1, 300):
        db.append({"__name__": "alive"}, float(t), 1.0)
    assert len(db) == 1
    assert db.select([Matcher("__name__", "=", "gone")], start=-1.0, end=1000.0) == []


def test_retention_must_be_positive() -> None:
    with pytest.raises(ValueError):
        MemoryTSDB(retention_seconds=0)


def test_select_by_name_does_not_scan_other_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    db = MemoryTSDB()
    for i in range(50):
        db.append({"__name__": f"other_{i}", "job": "a"}, 1.0, 1.0)
    db.append({"__name__": "wanted", "job": "a"}, 1.0, 1.0)
    seen: list[str] = []
    original = Matcher.matches

    def spy(self: Matcher, labels: object) -> bool:
        assert isinstance(labels, Labels)
        seen.append(labels["__name__"])
        return original(self, labels)

    monkeypatch.setattr(Matcher, "matches", spy)
    found = db.select([Matcher("job", "=", "a"), Matcher("__name__", "=", "wanted")], start=0.0, end=2.0)
    assert len(found) == 1
    assert set(seen) == {"wanted"}


def test_select_by_name_regex_spans_metrics() -> None:
    db = MemoryTSDB()
    for name in ("a_total", "b_total", "c_gauge"):
        db.append({"__name__": name}, 1.0, 1.0)
    found = db.select([Matcher("__name__", "=~", ".*_total")], start=0.0, end=2.0)
    assert sorted(s.labels["__name__"] for s in found) == ["a_total", "b_total"]


@pytest.mark.parametrize(
    ("op", "value", "labels", "expected"),
    [
        ("=", "a", {"job": "a"}, True),
        ("=", "a", {"job": "ab"}, False),
        ("=", "", {}, True),  # missing label equals ""
        ("!=", "a", {"job": "b"}, True),
        ("!=", "a", {}, True),
        ("!=", "", {}, False),
        ("=~", "a|b", {"job": "b"}, True),
        ("=~", "a|b", {"job": "ab"}, False),  # anchored across the alternation
        ("=~", "a", {"job": "xa"}, False),  # anchored at the start
        ("=~", "a", {"job": "a\n"}, False),  # $ does not match before a trailing newline
        ("=~", "a.b", {"job": "a\nb"}, True),  # (?s): dot matches newline
        ("=~", ".*", {}, True),
        ("=~", ".+", {}, False),
        ("=~", "(?i)API", {"job": "api"}, True),
        ("!~", "a|b", {"job": "c"}, True),
        ("!~", "a|b", {"job": "a"}, False),
        ("!~", ".+", {}, True),
    ],
)
def test_matcher_semantics(op: str, value: str, labels: dict[str, str], expected: bool) -> None:
    assert Matcher("job", op, value).matches(labels) is expected  # type: ignore[arg-type]


def test_matcher_rejects_bad_regex_and_operator() -> None:
    with pytest.raises(ValueError, match="invalid regular expression"):
        Matcher("job", "=~", "(")
    with pytest.raises(ValueError, match="unknown matcher operator"):
        Matcher("job", "~", "a")  # type: ignore[arg-type]


_label_values = st.sampled_from(["", "a", "b", "ab", "api-1", "web"])
_label_sets = st.fixed_dictionaries({"job": _label_values, "env": _label_values})
_matchers = st.builds(
    Matcher,
    name=st.sampled_from(["job", "env", "missing"]),
    op=st.sampled_from(["=", "!=", "=~", "!~"]),
    value=st.sampled_from(["", "a", "ab", "a.*", ".+", "b|web", "api-[0-9]"]),
)


@settings(deadline=None, max_examples=150)
@given(label_sets=st.lists(_label_sets, min_size=1, max_size=8), matchers=st.lists(_matchers, max_size=3))
def test_select_returns_exactly_the_series_a_reference_matcher_accepts(
    label_sets: list[dict[str, str]], matchers: list[Matcher]
) -> None:
    db = MemoryTSDB()
    unique = {Labels(ls): ls for ls in label_sets}
    for labels in unique.values():
        db.append({"__name__": "m", **labels}, 1.0, 1.0)

    def reference(labels: dict[str, str], m: Matcher) -> bool:
        actual = labels.get(m.name, "")
        if m.op in ("=", "!="):
            return (actual == m.value) == (m.op == "=")
        return (re.fullmatch(m.value, actual, re.DOTALL) is not None) == (m.op == "=~")

    expected = {frozenset(key.items()) for key, ls in unique.items() if all(reference(ls, m) for m in matchers)}
    found = db.select([Matcher("__name__", "=", "m"), *matchers], start=0.0, end=2.0)
    assert {frozenset((k, v) for k, v in s.labels.items() if k != "__name__") for s in found} == expected


@settings(deadline=None, max_examples=100)
@given(
    gaps=st.lists(st.floats(min_value=0.001, max_value=100.0), min_size=1, max_size=60),
    batch=st.integers(min_value=1, max_value=7),
    start=st.floats(min_value=-10.0, max_value=3000.0),
    width=st.floats(min_value=0.0, max_value=3000.0),
)
def test_window_matches_a_numpy_mask_for_any_batching(gaps: list[float], batch: int, start: float, width: float) -> None:
    timestamps = np.cumsum(gaps)
    values = np.arange(timestamps.size, dtype=np.float64)
    db = MemoryTSDB()
    for i in range(0, timestamps.size, batch):
        db.append_many({"__name__": "x"}, timestamps[i : i + batch], values[i : i + batch])
    mask = (timestamps > start) & (timestamps <= start + width)
    found = db.select([Matcher("__name__", "=", "x")], start=start, end=start + width)
    got = found[0].values.tolist() if found else []
    assert got == values[mask].tolist()
