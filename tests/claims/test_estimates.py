"""Estimates compare the way a claim means (issue #25): `assert estimate >= bar` holds when the
interval clears the bar, fails when it lies on the other side, is inconclusive when it straddles;
arithmetic between estimates of the same examples resamples them jointly.

The unit tests use fixed data and no model; the suite tests run a small suite on the fake pair
in a pytest subprocess and read the verdicts from results.json.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from mechtests.claims.outcomes import FAILS, HOLDS, INCONCLUSIVE, Inconclusive, MeasurementError
from mechtests.stats import Estimate, bootstrap, decide, paired_difference, sample_key
from mechtests.testing.suite import suite  # noqa: F401 - the fixture

RNG = np.random.default_rng(7)
A = RNG.normal(1.0, 1.0, size=200)
B = A - RNG.normal(0.3, 0.2, size=200)  # paired with A: B is A minus a small, noisy shift


def test_an_interval_above_the_bar_holds_below_fails_straddling_is_inconclusive():
    est = bootstrap(A, seed=0, name="a")
    assert est.lo > 0.5 and est.hi < 1.5
    assert decide(est, ">=", 0.5).verdict == HOLDS
    assert decide(est, ">=", 1.5).verdict == FAILS
    assert decide(est, ">=", est.value).verdict == INCONCLUSIVE
    assert decide(est, "<", 1.5).verdict == HOLDS and decide(est, "<", 0.5).verdict == FAILS
    # the bar itself: >= holds at lo == bar, > does not; < fails at lo == bar, <= does not
    at = Estimate(value=1.0, lo=1.0, hi=2.0, seed=0)
    assert (decide(at, ">=", 1.0).verdict, decide(at, ">", 1.0).verdict) == (HOLDS, INCONCLUSIVE)
    assert (decide(at, "<", 1.0).verdict, decide(at, "<=", 1.0).verdict) == (FAILS, INCONCLUSIVE)


def test_a_decision_is_true_when_it_holds_false_when_it_fails_and_cannot_decide_outside_a_test():
    est = bootstrap(A, seed=0, name="a")
    assert bool(est >= 0.5) is True and bool(est >= 1.5) is False
    with pytest.raises(Inconclusive, match=r"^a: [\d.]+ \[[\d.]+, [\d.]+\], straddling the bar [\d.]+$"):
        bool(est >= est.value)


def test_a_nan_estimate_is_an_error_not_a_verdict():
    nan = Estimate(value=float("nan"), lo=0.1, hi=0.2, seed=0, name="broken")
    with pytest.raises(MeasurementError, match="broken: the statistic or its interval is not finite"):
        nan >= 0.0  # noqa: B015 - the comparison itself raises
    with pytest.raises(MeasurementError):
        bootstrap(A, seed=0) >= float("inf")  # noqa: B015


def test_nan_per_example_values_are_left_out_by_the_estimate():
    values = A.copy()
    values[::10] = np.nan
    est = bootstrap(values, seed=0)
    assert est.value == pytest.approx(float(np.nanmean(values))) and np.isfinite([est.lo, est.hi]).all()


def test_a_paired_difference_equals_the_hand_computed_paired_bootstrap():
    """Same examples, same seed: the difference of the two estimates is the paired bootstrap of
    the difference, resample by resample (the same rows drawn for both series)."""
    key = sample_key([(1, 2, 3)])
    a, b = bootstrap(A, seed=3, sample=key, name="a"), bootstrap(B, seed=3, sample=key, name="b")
    diff = a - b
    index = np.random.default_rng(3).integers(0, len(A), size=(1000, len(A)))  # the resamples, by hand
    by_hand = np.array([A[row].mean() - B[row].mean() for row in index])
    lo, hi = np.quantile(by_hand, [0.025, 0.975])
    assert diff.value == pytest.approx(A.mean() - B.mean(), abs=1e-12)
    assert (diff.lo, diff.hi) == pytest.approx((lo, hi), abs=1e-12)
    joint = bootstrap(A, B, statistic=paired_difference, seed=3)
    assert (diff.lo, diff.hi) == pytest.approx((joint.lo, joint.hi), abs=1e-12)
    assert diff.name == "a - b" and diff.n == len(A)
    # paired, the interval is far narrower than treating the samples as independent
    independent = bootstrap(A, seed=3, name="a") - bootstrap(B, seed=3, name="b")
    assert independent.value == pytest.approx(diff.value)
    assert (diff.hi - diff.lo) < 0.5 * (independent.hi - independent.lo)


def test_a_ratio_and_numbers_combine_draw_by_draw():
    key = sample_key([(4, 5)])
    a, b = bootstrap(A + 5, seed=1, sample=key), bootstrap(B + 5, seed=1, sample=key)
    ratio = a / b
    index = np.random.default_rng(1).integers(0, len(A), size=(1000, len(A)))
    by_hand = np.array([(A[row] + 5).mean() / (B[row] + 5).mean() for row in index])
    assert (ratio.lo, ratio.hi) == pytest.approx(tuple(np.quantile(by_hand, [0.025, 0.975])), abs=1e-12)
    shifted = 2 * a - 1
    assert shifted.value == pytest.approx(2 * a.value - 1) and shifted.lo == pytest.approx(2 * a.lo - 1)


def test_estimates_of_different_examples_combine_independently():
    """Two samples of different examples: the second's resamples are put in an independent order,
    so no pairing is invented (the difference's spread is that of two independent means)."""
    a, b = bootstrap(A, seed=0), bootstrap(B, seed=0)
    diff = a - b
    spread = np.sqrt(A.var(ddof=1) / len(A) + B.var(ddof=1) / len(B))
    assert (diff.hi - diff.lo) == pytest.approx(2 * 1.96 * spread, rel=0.15)


def _run(suite, body: str, *args: str):  # noqa: ANN202 - a RunResult and the results
    suite.write(test_e="import numpy as np\nimport mechtests\nfrom mechtests.stats import bootstrap\n" + body)
    result = suite.run(*args)
    return result, {h["key"]: h["results"] for h in suite.results()["hypotheses"]}


def test_assert_decides_holds_fails_and_inconclusive_and_records_its_evidence(suite) -> None:
    result, res = _run(suite, '''
VALUES = np.random.default_rng(0).normal(1.0, 1.0, size=100)

@mechtests.hypothesis(expect={"pair": "holds"})
def test_above():
    assert bootstrap(VALUES, name="mean") >= 0.5

@mechtests.hypothesis(expect={"pair": "fails"})
def test_below():
    assert bootstrap(VALUES, name="mean") >= 2.0

@mechtests.hypothesis(expect={"pair": "inconclusive"})
def test_straddling():
    assert bootstrap(VALUES, name="mean") >= 1.0

@mechtests.hypothesis(expect={"pair": "fails"})
def test_fails_outranks_inconclusive():
    est = bootstrap(VALUES, name="mean")
    assert all([est >= 1.0, est >= 2.0])

@mechtests.hypothesis(expect={"pair": "holds"})
def test_a_plain_float_still_works():
    x = 0.5
    assert x > 0.3
''')
    assert result.ret == 0, result.stdout.str()
    outcomes = {key.split(".")[-1]: r["pair"]["outcome"] for key, r in res.items()}
    assert outcomes == {"above": HOLDS, "below": FAILS, "straddling": INCONCLUSIVE, "fails_outranks_inconclusive": FAILS,
                        "a_plain_float_still_works": HOLDS}
    (ev,) = res["e.above"]["pair"]["evidence"]
    assert ev["name"] == "mean" and ev["threshold"] == 0.5 and ev["extra"] == {"seed": 0, "n": 100} and ev["ci"][0] > 0.5
    assert "straddling the bar 1" in res["e.straddling"]["pair"]["message"]
    assert [e["threshold"] for e in res["e.fails_outranks_inconclusive"]["pair"]["evidence"]] == [1.0, 2.0]


def test_the_failure_text_shows_the_value_the_interval_and_the_bar(suite) -> None:
    result, res = _run(suite, '''
@mechtests.hypothesis(expect={"pair": "holds"})
def test_low():
    assert bootstrap(np.linspace(0.25, 0.32, 50), name="best induction head 17.5") > 0.4
''')
    assert result.ret == 1
    result.stdout.fnmatch_lines(["E * assert best induction head 17.5: 0.285 [[]0.279, 0.291[]], below the bar 0.4"])
    assert "below the bar 0.4" in res["e.low"]["pair"]["message"]


def test_a_nan_estimate_ends_in_error_even_when_fails_is_expected(suite) -> None:
    result, res = _run(suite, '''
@mechtests.hypothesis(expect={"pair": "fails"})
def test_nan():
    assert bootstrap([float("nan")] * 5, name="broken") >= 0.4
''')
    assert result.ret == 1 and res["e.nan"]["pair"]["outcome"] == "error"


def test_models_aims_a_hypothesis_at_the_mdm_only(suite) -> None:
    result, res = _run(suite, '''
@mechtests.hypothesis(models=("mdm",), expect={"mdm": "holds"})
def test_mdm_only(subject):
    assert subject.kind == "mdm"
''', "-v")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*test_mdm_only[[]mdm[]] PASSED*"])
    assert "test_mdm_only[arm]" not in result.stdout.str() and set(res["e.mdm_only"]) == {"mdm"}


def test_models_names_only_arm_or_mdm():
    import mechtests
    from mechtests.errors import MechtestsError

    with pytest.raises(MechtestsError, match="models must name 'arm', 'mdm' or both"):
        mechtests.hypothesis(models=("pair",))
    with pytest.raises(MechtestsError, match=r"expect names \['arm'\]"):
        mechtests.hypothesis(models=("mdm",), expect={"arm": "holds"})


def test_the_readme_examples_run_on_the_bundled_pair_and_hold(pytester: pytest.Pytester) -> None:
    """README's hypothesis examples, as written, run on the bundled pair and hold (issue #25)."""
    root = Path(__file__).resolve().parents[2]
    blocks = re.findall(r"```python\n(.*?)```", (root / "README.md").read_text(), re.S)
    first = [line for line in blocks[0].splitlines() if line.strip()]
    assert len(first) <= 12 and any(line.strip().startswith("assert ") for line in first)
    code = "\n\n".join(blocks)
    pytester.makepyprojecttoml(f'[tool.mechtests]\npair = "tiny"\n[tool.mechtests.pairs.tiny]\n'
                               f'arm = "{root}/fixtures/tiny-pair/arm"\nmdm = "{root}/fixtures/tiny-pair/mdm"\n')
    pytester.makepyfile(test_readme=code)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == 0, result.stdout.str()
    result.assert_outcomes(passed=3)
