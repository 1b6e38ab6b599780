"""Line searches (optimizers/step/lines.py): each side of a number's best value is bisected
when something there scored worse, moved far when nothing did; the bisections first."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from optimizers.step.lines import bisections, count_gap, line_probes, open_sides, widens_gap
from tests.optimizers.graphs import param
from tracegraph.node import Node
from tracegraph.params import ParamType


def pipeline() -> list[Node]:
    return [
        param(2, "window", ParamType.INTEGER, bounds=(1, 31)),
        param(0.5, "threshold", ParamType.NUMBER, bounds=(0.0, 2.0)),
    ]


BEST = {"window": 2, "threshold": 0.5}
# the threshold's line is bracketed on both sides; window was never moved alone
THRESHOLD_LINE = [
    ({"window": 2, "threshold": 0.2}, 0.66),
    ({"window": 2, "threshold": 0.8}, 0.63),
    ({"window": 30, "threshold": 0.8}, 0.0),  # not on either line
]


def test_a_number_never_moved_alone_is_moved_far_both_ways_the_wider_side_first() -> None:
    probes = open_sides(BEST, 0.75, THRESHOLD_LINE, pipeline())
    # window 1..31 is a positive range 31x wide: far moves are factors (sqrt(2*31), sqrt(2*1))
    assert [p["values"] for p in probes] == [{**BEST, "window": 8}, {**BEST, "window": 1}]
    assert all("nothing that way scored worse" in p["origin"] for p in probes)


def test_an_open_side_starts_past_the_farthest_tie() -> None:
    params = pipeline()
    best = {"window": 10, "threshold": 0.95}
    tied = [({"window": 10, "threshold": t}, 0.33) for t in (0.97, 0.98)]
    probes = {p["values"]["threshold"]: p for p in open_sides(best, 0.33, tied, params)}
    assert 1.49 in probes and "past 0.98 (it tied)" in probes[1.49]["origin"]
    assert 0.475 in probes  # nothing tried below: from the best value itself
    assert bisections(best, 0.33, tied, params) == []  # ties bracket nothing


def test_a_bracketed_side_is_bisected_not_moved_far() -> None:
    probes = open_sides(BEST, 0.75, THRESHOLD_LINE, pipeline())
    assert all(p["values"]["threshold"] == 0.5 for p in probes)


def test_bisections_come_before_open_sides() -> None:
    probes = line_probes(BEST, 0.75, THRESHOLD_LINE, pipeline())
    assert "a bisection" in probes[0]["origin"] and probes[0]["values"]["window"] == 2
    assert [p["values"]["window"] for p in probes[1:]] == [8, 1]


def test_an_open_side_far_wider_than_the_bracket_is_moved_far_before_the_bisection() -> None:
    params = [param(0.001, "lr", ParamType.NUMBER, bounds=(1e-5, 10.0))]
    best = {"lr": 0.001}
    below = [({"lr": 0.0001}, -0.69), ({"lr": 0.00032}, -0.656)]  # worse below, nothing above
    probes = line_probes(best, -0.6155, below, params)
    assert [p["values"]["lr"] for p in probes] == [0.1, 0.000565685]  # far up, then the bracket
    assert "nothing that way scored worse" in probes[0]["origin"]
    # a bracket about as wide as the open side: the bisection first, as before
    wide = [({"lr": 1e-5}, -0.9)]
    probes = line_probes(best, -0.6155, wide, params)
    assert "a bisection" in probes[0]["origin"] and probes[1]["values"]["lr"] == 0.1


@given(
    best=st.floats(0.05, 1.95),
    scored=st.lists(st.tuples(st.floats(0.0, 2.0), st.floats(0.0, 1.0)), max_size=6),
)
def test_every_line_probe_is_in_bounds_and_moves_one_number(
    best: float, scored: list[tuple[float, float]]
) -> None:
    params = pipeline()
    start = {"window": 5, "threshold": round(best, 3)}
    tried = [({"window": 5, "threshold": t}, s) for t, s in scored]
    for probe in line_probes(start, 0.5, tried, params):
        t = probe["values"]["threshold"]
        moved = [k for k, v in probe["values"].items() if v != start[k]]
        assert len(moved) == 1
        assert 0.0 <= t <= 2.0 and 1 <= probe["values"]["window"] <= 31


def test_after_a_worse_bisection_a_narrow_next_one_waits_for_the_open_sides() -> None:
    params = pipeline()
    best = {"window": 3, "threshold": 0.95}
    # the upper side was bisected down to 1.08 (0.95..1.08 is 1/16 of the range 0..2 away)
    tried = [({"window": 3, "threshold": t}, 0.33) for t in (1.475, 1.2125, 1.08)]
    probes = line_probes(best, 0.57, tried, params, bisected="threshold")
    assert "a bisection" in probes[-1]["origin"]  # halfway to 1.08: narrow, so last
    assert probes[-1]["values"]["threshold"] == 1.015
    assert probes[0]["values"] == {**best, "window": 10}  # an open side first
    wide = [({"window": 3, "threshold": 1.475}, 0.33)]  # a wide bracket is bisected first
    assert "a bisection" in line_probes(best, 0.57, wide, params, bisected="threshold")[0]["origin"]


def test_count_gap_reads_found_against_expected_and_nothing_else() -> None:
    assert count_gap("precision 1.00, recall 0.40, F1 0.57; found 2 events, expected 5") == -3
    assert count_gap("returned 7 rows but 4 were expected") is None  # the order it reads
    assert count_gap("kept 6 passages, target 3") == 3
    assert count_gap("found 1, expected 2; found 3, expected 2") is None  # two: ambiguous
    assert count_gap("loss 0.3") is None


def test_a_probe_that_would_widen_the_count_gap_comes_last() -> None:
    params = pipeline()
    best = {"window": 3, "threshold": 0.95}
    tried = [({"window": 3, "threshold": 1.475}, 0.0)]  # higher: fewer events (0 of 5)
    gaps = [(best, -2.0), (tried[0][0], -5.0)]
    plain = line_probes(best, 0.57, tried, params)
    assert "a bisection" in plain[0]["origin"]  # 0.95..1.475: towards fewer events
    steered = line_probes(best, 0.57, tried, params, gaps=gaps)
    assert steered[-1] == plain[0]  # too few already: raising the threshold waits
    assert sorted(map(str, plain)) == sorted(map(str, steered))
    lower = [p for p in steered if p["values"]["threshold"] < 0.95]
    assert lower and steered.index(lower[0]) < steered.index(plain[0])
    # no evidence of the way (one point, or neighbours that disagree): the plain order
    assert line_probes(best, 0.57, tried, params, gaps=[(best, -2.0)]) == plain


def test_a_move_widens_the_gap_when_its_line_says_so_and_only_then() -> None:
    params = pipeline()
    best = {"window": 8, "threshold": 0.5}  # found 4 of 5: more events wanted
    gaps = [({"window": 2, "threshold": 0.5}, 5.0), (best, -1.0)]  # a wider window: fewer

    def probe(**values: float) -> dict[str, object]:
        return {"values": {**best, **values}, "origin": "test"}

    assert widens_gap(best, probe(window=20), params, gaps)  # fewer still
    assert not widens_gap(best, probe(window=5), params, gaps)
    assert not widens_gap(best, probe(threshold=0.3), params, gaps)  # its way is unknown
    assert not widens_gap(best, probe(window=20), params, gaps[1:])  # one point: no line
