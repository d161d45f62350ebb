"""The study's intervals, recomputed independently from per-seed values (SciPy as reference)."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from avem_plugins.study_stats import difference, summarize, t_cdf, t_quantile
from avem_plugins.study_table import COLUMNS, build_table


@pytest.mark.parametrize("df", [1, 2, 2.5, 3.7, 4, 9, 30, 250])
def test_t_quantile_matches_scipy(df):
    assert t_quantile(0.975, df) == pytest.approx(stats.t.ppf(0.975, df), rel=1e-9)
    assert t_cdf(1.3, df) == pytest.approx(stats.t.cdf(1.3, df), rel=1e-9)
    assert t_quantile(0.1, df) == pytest.approx(stats.t.ppf(0.1, df), rel=1e-9)


def test_summary_is_the_student_t_interval():
    values = [0.625, 0.75, 0.5625]
    s = summarize(values)
    low, high = stats.t.interval(
        0.95, len(values) - 1, loc=sum(values) / 3, scale=stats.sem(values)
    )
    assert s.mean == pytest.approx((low + high) / 2)
    assert s.half_width == pytest.approx((high - low) / 2)
    assert summarize([0.4]).half_width is None


def test_difference_is_welch():
    a, b = [0.5, 0.6, 0.55], [0.4, 0.42, 0.47]
    d = difference(a, b)
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert d.estimate == pytest.approx((ci.low + ci.high) / 2)
    assert d.half_width == pytest.approx((ci.high - ci.low) / 2)
    assert d.outside == (ci.low > 0 or ci.high < 0)
    # identical groups: nothing is outside the interval
    assert not difference(a, a).outside


def test_difference_from_a_single_value_uses_the_other_groups_interval():
    a, base = [0.7, 0.8, 0.75], [0.5]
    d = difference(a, base)
    one = stats.ttest_1samp(a, 0.5).confidence_interval(0.95)
    assert d.estimate == pytest.approx(0.25)
    assert d.half_width == pytest.approx((one.high - one.low) / 2)
    assert difference([0.3], [0.5]).half_width is None


def test_table_recomputes_from_per_seed_values():
    per_seed = {
        "base": [{"hallucination": 0.0}],
        "naive-dpo": [{"hallucination": v} for v in (0.25, 0.3125, 0.1875)],
        "avem": [{"hallucination": v} for v in (0.5, 0.5625, 0.625)],
        "avem-no-tpd": [{"hallucination": v} for v in (0.25, 0.375, 0.125)],
    }
    full = {
        row: [{c.key: r.get(c.key) for c in COLUMNS} for r in runs]
        for row, runs in per_seed.items()
    }
    table = build_table(full, list(per_seed), "naive-dpo")
    for row, runs in per_seed.items():
        vals = [r["hallucination"] for r in runs]
        cell = table.cells[row]["hallucination"]
        assert cell.summary is not None
        assert cell.summary.values == tuple(vals)
        if len(vals) > 1:
            low, high = stats.t.interval(0.95, len(vals) - 1, loc=sum(vals) / len(vals),
                                         scale=stats.sem(vals))  # fmt: skip
            assert cell.summary.half_width == pytest.approx((high - low) / 2)
        if row != "naive-dpo":
            ci = (
                stats.ttest_ind(
                    vals, [r["hallucination"] for r in per_seed["naive-dpo"]], equal_var=False
                ).confidence_interval(0.95)
                if len(vals) > 1
                else None
            )
            if ci is not None:
                assert cell.vs_baseline.outside == (ci.low > 0 or ci.high < 0)
    assert table.cells["avem"]["hallucination"].text().endswith("▲")
    assert not table.cells["avem-no-tpd"]["hallucination"].text().endswith(("▲", "▼"))
    assert table.cells["naive-dpo"]["hallucination"].vs_baseline is None
    # a column without values is shown as a dash, not as zero
    assert table.cells["avem"]["basic_audio"].text() == "–"
    assert math.isclose(table.cells["avem"]["hallucination"].summary.mean, 0.5625)
