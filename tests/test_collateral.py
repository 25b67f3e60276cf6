"""Environmental-rights collateral: risk measures, valuation, the pledge lifecycle, revaluation, stress."""

from __future__ import annotations

import csv
import datetime as dt
import math
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError
from typer.testing import CliRunner

from greenfin.cli import app
from greenfin.collateral.risk import (
    backtest_haircut,
    ewma_sigma,
    ewma_var_es,
    historical_var_es,
    kupiec_pof,
    log_returns,
)
from greenfin.collateral.valuation import ValuationPolicy, rolling_series_risk, series_risk, value_pledges
from greenfin.model.entities import Instrument, PledgeState
from greenfin.service import collateral as service
from greenfin.service.importing import import_files
from greenfin.service.users import PermissionDenied, add_user, verify_password
from greenfin.store.schema import holdings, pledge_events, pledges, prices
from tests.conftest import DATA, shared_file, snapshot

# --- risk measures -------------------------------------------------------------------------------

#: Twenty daily log returns, written out so the expected figures can be checked by hand.
RETURNS = np.array(
    [0.010, -0.020, 0.005, -0.035, 0.012, 0.000, -0.008, 0.021, -0.050, 0.003,
     0.007, -0.012, 0.016, -0.004, 0.009, -0.027, 0.002, 0.011, -0.001, 0.006]
)  # fmt: skip


def test_historical_var_and_es_by_hand() -> None:
    """At 90 %: ⌈20 × 0.1⌉ = 2nd smallest return, −0.035; ES = mean(−0.050, −0.035) = −0.0425.
    Over 4 days (√4 = 2): VaR = 1 − e^(−0.070) = 0.067606, ES = 1 − e^(−0.085) = 0.081488."""
    var, es = historical_var_es(RETURNS, 0.90, horizon_days=4)
    assert var == pytest.approx(1 - math.exp(-0.070), abs=1e-12)
    assert es == pytest.approx(1 - math.exp(-0.085), abs=1e-12)
    assert round(var, 6) == 0.067606 and round(es, 6) == 0.081488


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.floats(min_value=-0.2, max_value=0.2, allow_nan=False), min_size=30, max_size=400),
    st.sampled_from([0.9, 0.95, 0.975, 0.99]),
)
def test_historical_var_is_numpys_inverted_cdf_quantile(returns: list[float], confidence: float) -> None:
    array = np.array(returns)
    quantile = float(np.quantile(array, 1 - confidence, method="inverted_cdf"))
    var, es = historical_var_es(array, confidence)
    assert var == pytest.approx(-math.expm1(quantile), abs=1e-12)
    assert es >= var - 1e-12  # the shortfall is never below the VaR


def test_ewma_against_an_independent_computation() -> None:
    """RiskMetrics by pandas-free loop written apart from the module, and the normal quantile from SciPy."""
    lam, variance = 0.94, float(np.var(RETURNS))
    for value in RETURNS:
        variance = lam * variance + (1 - lam) * value**2
    sigma = math.sqrt(variance)
    assert ewma_sigma(RETURNS) == pytest.approx(sigma, rel=1e-12)
    var, es = ewma_var_es(RETURNS, 0.99, horizon_days=10)
    scaled = sigma * math.sqrt(10)
    z = stats.norm.ppf(0.99)
    assert var == pytest.approx(-math.expm1(-z * scaled), rel=1e-9)
    assert es == pytest.approx(-math.expm1(-scaled * stats.norm.pdf(z) / 0.01), rel=1e-9)


@pytest.mark.parametrize(
    ("trials", "exceedances", "rate"),
    [(250, 0, 0.01), (250, 2, 0.01), (250, 7, 0.01), (97, 2, 0.01), (500, 40, 0.05)],
)
def test_kupiec_matches_scipy(trials: int, exceedances: int, rate: float) -> None:
    x, n, p = exceedances, trials, rate
    observed = x / n
    null = (n - x) * math.log(1 - p) + x * math.log(p)
    alternative = (n - x) * math.log(1 - observed) + (x * math.log(observed) if x else 0.0)
    statistic = -2 * (null - alternative)
    result = kupiec_pof(trials, exceedances, rate)
    assert result.statistic == pytest.approx(statistic, abs=1e-9)
    assert result.p_value == pytest.approx(stats.chi2.sf(statistic, df=1), rel=1e-9)


def real_cea_closes() -> np.ndarray:
    path = shared_file("data", "cea_composite_daily.csv")
    with path.open(encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row["close"]]
    return np.array([float(row["close"]) for row in rows])


def test_backtest_on_the_real_cea_series_counts_exceedances_independently() -> None:
    """The backtest's exceedances, recounted with NumPy's quantile; Kupiec as SciPy computes it."""
    closes = real_cea_closes()
    returns = np.diff(np.log(closes))
    horizon, window, confidence = 10, 250, 0.99
    exceed = trials = 0
    for start in range(window, returns.size - horizon + 1, horizon):
        q = np.quantile(returns[start - window : start], 1 - confidence, method="inverted_cdf")
        haircut = -math.expm1(q * math.sqrt(horizon))
        trials += 1
        exceed += -math.expm1(returns[start : start + horizon].sum()) > haircut
    result = backtest_haircut(
        closes, confidence=confidence, horizon_days=horizon, window=window, method="historical"
    )
    assert (result.kupiec.trials, result.kupiec.exceedances) == (trials, exceed)
    assert 0 <= result.kupiec.rate < 0.1


def test_backtest_command_prints_the_exceedance_rate() -> None:
    path = shared_file("data", "cea_composite_daily.csv")
    result = CliRunner().invoke(app, ["collateral", "backtest", "--file", str(path)])
    assert result.exit_code == 0, result.output
    assert "超限率" in result.output and "Kupiec" in result.output


# --- valuation -----------------------------------------------------------------------------------


def synthetic_series(days: int = 400, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    closes = 60 * np.exp(np.cumsum(rng.normal(0, 0.02, days)))
    volumes = rng.uniform(1e5, 1e6, days)
    return closes, volumes


@pytest.mark.parametrize("method", ["historical", "ewma"])
@pytest.mark.parametrize("measure", ["var", "es"])
@pytest.mark.parametrize("reference", ["last_close", "average", "vwap", "lowest"])
def test_rolling_risk_equals_the_single_day_risk(method: str, measure: str, reference: str) -> None:
    closes, volumes = synthetic_series()
    policy = ValuationPolicy(method=method, measure=measure, reference=reference)  # type: ignore[arg-type]
    rolling = rolling_series_risk(closes, volumes, policy)
    for day in (policy.min_history_days, 150, policy.lookback_days, 251, 399):
        single = series_risk(closes[: day + 1], volumes[: day + 1], policy)
        assert rolling["tail"][day] == pytest.approx(single.tail_1d, abs=1e-12)
        assert rolling["reference"][day] == pytest.approx(single.reference, rel=1e-12)
        assert rolling["adv"][day] == pytest.approx(single.adv, rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    quantity=st.floats(min_value=1, max_value=1e7),
    outstanding=st.floats(min_value=1e4, max_value=1e9),
    price=st.floats(min_value=1, max_value=1e4),
    tail=st.floats(min_value=-0.2, max_value=0.0),
    adv=st.floats(min_value=0, max_value=1e7),
)
def test_one_pledge_or_many_give_the_same_value(
    quantity: float, outstanding: float, price: float, tail: float, adv: float
) -> None:
    policy = ValuationPolicy()
    one = value_pledges(quantity, outstanding, price, tail, adv, policy)
    many = value_pledges(np.full(3, quantity), np.full(3, outstanding), price, tail, adv, policy)
    for key, value in one.items():
        assert np.all(many[key] == value), key
    assert 0 <= float(one["haircut"]) <= 1
    assert float(one["pledge_rate"]) <= policy.max_pledge_rate
    assert float(one["liquidation_days"]) >= policy.horizon_days


def test_a_large_position_gets_a_longer_horizon_and_a_bigger_haircut() -> None:
    policy = ValuationPolicy()
    small = value_pledges(1_000.0, 1e5, 60.0, -0.03, 100_000.0, policy)
    large = value_pledges(1_000_000.0, 1e8, 60.0, -0.03, 100_000.0, policy)
    assert float(small["liquidation_days"]) == policy.horizon_days
    assert float(large["liquidation_days"]) == 100  # 1e6 ÷ (10 % × 1e5)
    assert float(large["haircut"]) > float(small["haircut"])


def test_bad_policies_are_refused() -> None:
    with pytest.raises(ValueError, match="liquidation line"):
        ValuationPolicy(warning_line=1.1, liquidation_line=1.2)
    with pytest.raises(ValueError, match="unknown"):
        ValuationPolicy.from_params("x", 1, {"colour": "green"})


# --- the store: lifecycle, roles, revaluation ------------------------------------------------------

OFFICER, MANAGER, RISK = "officer", "manager", "risk"
LOAN = "T-0001"  # 800.50 万元 outstanding in tests/data/small_book.csv
HOLDER = "91330100799655058B"


@pytest.fixture
def book(engine: Engine) -> Engine:
    import_files(engine, [DATA / "small_book.csv"], actor="tester")
    add_user(engine, OFFICER, "officer-password", ["collateral_officer"], actor="admin")
    add_user(engine, MANAGER, "manager-password", ["collateral_manager"], actor="admin")
    add_user(engine, RISK, "risk-password", ["risk_manager"], actor="admin")
    service.add_holding(
        engine, holding_id="H1", holder_credit_code=HOLDER, instrument=Instrument.CEA, price_series="CEA",
        registry_account="全国碳排放权注册登记 A-1", quantity=Decimal(300_000), vintage=2024, actor=OFFICER,
    )  # fmt: skip
    return engine


def add_prices(engine: Engine, closes: np.ndarray, first: dt.date = dt.date(2025, 1, 1)) -> list[dt.date]:
    days = [first + dt.timedelta(days=i) for i in range(closes.size)]
    with engine.begin() as connection:
        connection.execute(
            insert(prices),
            [{"instrument": "CEA", "day": d, "close_yuan": Decimal(f"{c:.4f}"), "volume": Decimal(500_000)}
             for d, c in zip(days, closes, strict=True)],
        )  # fmt: skip
    return days


def pledge(engine: Engine, pledge_id: str = "P1", quantity: int = 200_000) -> None:
    service.apply_pledge(
        engine, pledge_id=pledge_id, holding_id="H1", loan_ids=[LOAN], quantity=Decimal(quantity),
        pledged_on=dt.date(2025, 3, 1), actor=OFFICER,
    )  # fmt: skip
    service.register_pledge(engine, pledge_id, f"登记 {pledge_id}", actor=OFFICER)


def test_passwords_are_argon2_hashes(book: Engine) -> None:
    assert verify_password(book, OFFICER, "officer-password")
    assert not verify_password(book, OFFICER, "wrong-password")
    from greenfin.store.schema import users

    with book.connect() as connection:
        stored = connection.execute(
            select(users.c.password_hash).where(users.c.username == OFFICER)
        ).scalar_one()
    assert stored.startswith("$argon2id$") and "officer-password" not in stored


def test_the_lifecycle_records_every_transition(book: Engine) -> None:
    pledge(book)
    service.top_up(book, "P1", Decimal(50_000), reason="覆盖率不足", actor=OFFICER)
    service.partial_release(book, "P1", Decimal(30_000), reason="部分还款", actor=MANAGER)
    service.release(book, "P1", reason="贷款结清", actor=MANAGER)
    with book.connect() as connection:
        events = connection.execute(
            select(pledge_events.c.action, pledge_events.c.to_state).order_by(pledge_events.c.id)
        ).all()
        held = connection.execute(
            select(holdings.c.pledged).where(holdings.c.holding_id == "H1")
        ).scalar_one()
        state = connection.execute(select(pledges.c.state).where(pledges.c.pledge_id == "P1")).scalar_one()
    assert [tuple(e) for e in events] == [
        ("apply", "applied"), ("register", "registered"), ("top_up", "topped_up"),
        ("partial_release", "part_released"), ("release", "released"),
    ]  # fmt: skip
    assert held == 0 and state == PledgeState.RELEASED


def test_a_quantity_is_never_pledged_twice(book: Engine) -> None:
    pledge(book, "P1", 200_000)
    before = snapshot(book)
    with pytest.raises(service.CollateralProblem, match="超过持有量"):
        pledge(book, "P2", 150_000)  # 100,000 left
    assert snapshot(book) == before
    with pytest.raises(IntegrityError), book.begin() as connection:  # the store itself refuses it
        connection.execute(
            update(holdings).where(holdings.c.holding_id == "H1").values(pledged=Decimal(400_000))
        )
    assert snapshot(book) == before


def test_a_release_by_someone_without_the_role_changes_nothing(book: Engine) -> None:
    pledge(book)
    before = snapshot(book)
    for actor in (OFFICER, "stranger"):
        with pytest.raises(PermissionDenied, match="collateral_manager"):
            service.release(book, "P1", reason="no", actor=actor)
    assert snapshot(book) == before


def test_transitions_out_of_order_are_refused(book: Engine) -> None:
    pledge(book)
    service.release(book, "P1", reason="结清", actor=MANAGER)
    before = snapshot(book)
    with pytest.raises(service.CollateralProblem, match="解押"):
        service.top_up(book, "P1", Decimal(1), reason="x", actor=OFFICER)
    with pytest.raises(service.CollateralProblem):
        service.register_pledge(book, "P1", "again", actor=OFFICER)
    assert snapshot(book) == before


def test_revaluation_raises_an_alert_when_the_price_falls_through_the_line(book: Engine) -> None:
    """200,000 t against 800.50 万元: coverage 1.4 at 56.035 元.  Prices at 60, then a fall to 50."""
    pledge(book)
    rng = np.random.default_rng(3)
    closes = 60 * np.exp(rng.normal(0, 0.004, 120))
    closes[-25:] = np.linspace(closes[-26], 50, 25)
    days = add_prices(book, closes)
    first = service.revalue(book, days[80], actor=RISK)
    assert [v.status for v in first.values] == ["normal"] and first.alerts == []
    second = service.revalue(book, days[-1], actor=RISK)
    value = second.values[0]
    assert value.status in ("warning", "liquidation") and value.previous_status == "normal"
    assert value.coverage == pytest.approx(200_000 * value.reference / 8_005_000)
    assert [(p, k) for p, k, _m in second.alerts] == [("P1", value.status)]
    with book.connect() as connection:
        assert (
            connection.execute(select(pledges.c.state).where(pledges.c.pledge_id == "P1")).scalar_one()
            == "warning"
        )
    # stress: a further 30 % fall puts it below the liquidation line
    result = service.stress(book, days[-1], [service.Scenario("-30%", {"CEA": -0.3})])[0]
    assert [v.pledge_id for v in result.liquidation] == ["P1"] and result.loans == [LOAN]


def test_policy_versions_are_stored_and_recorded_with_runs(book: Engine) -> None:
    assert service.current_policy(book).version == 1
    with pytest.raises(PermissionDenied):
        service.set_policy(book, "default", {"confidence": 0.975}, actor=OFFICER)
    stored = service.set_policy(book, "default", {"confidence": 0.975}, actor=RISK)
    assert (stored.version, stored.confidence) == (1, 0.975)
    again = service.set_policy(book, "default", {"horizon_days": 20}, actor=RISK)
    assert (again.version, again.confidence, again.horizon_days) == (2, 0.975, 20)
    assert service.current_policy(book) == again


def test_unpriced_pledges_are_listed_not_guessed(book: Engine) -> None:
    pledge(book)
    run = service.revalue(book, dt.date(2025, 6, 1), actor=RISK)
    assert run.values == [] and [p for p, _why in run.unpriced] == ["P1"]


def test_cli_release_without_the_role_exits_with_a_message(book: Engine, store_url: str) -> None:
    pledge(book)
    result = CliRunner().invoke(
        app, ["collateral", "pledge", "release", "P1", "--reason", "x", "--user", OFFICER, "--db", store_url]
    )
    assert result.exit_code == 1 and "collateral_manager" in result.output


def test_log_returns_refuse_non_positive_prices() -> None:
    with pytest.raises(ValueError):
        log_returns(np.array([1.0, 0.0, 2.0]))


def test_demo_price_file_is_documented(tmp_path: Path) -> None:
    from greenfin.demo.prices import DEMO_DAY, SERIES, write_prices

    path = write_prices(tmp_path / "p.csv", 1)
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["subject"] for row in rows} == {s.code for s in SERIES}
    assert max(row["date"] for row in rows) == DEMO_DAY.isoformat()
    assert all(float(row["close"]) > 0 for row in rows)


def test_the_replayed_history_equals_the_daily_job_day_by_day() -> None:
    """value_history over arrays gives what value_pledges gives pledge by pledge and day by day."""
    from greenfin.collateral.valuation import value_history

    policy = ValuationPolicy()
    codes, risks = [], {}
    for seed in (1, 2):
        closes, volumes = synthetic_series(300, seed)
        codes.append(f"S{seed}")
        risks[f"S{seed}"] = rolling_series_risk(closes, volumes, policy)
    rng = np.random.default_rng(5)
    which = rng.integers(0, 2, 40)
    quantity = rng.uniform(1e3, 1e5, 40)
    outstanding = quantity * 60 / rng.uniform(1.0, 2.0, 40)
    outstanding[0] = 0.0  # nothing outstanding: never below a line
    history = value_history(risks, which, codes, quantity, outstanding, policy, chunk=7)
    for i in range(40):
        series = risks[codes[int(which[i])]]
        status_before, alerts, lowest, warning_days = 0, 0, np.inf, 0
        for t in range(300):
            if not (np.isfinite(series["reference"][t]) and np.isfinite(series["tail"][t])):
                continue
            out = value_pledges(
                quantity[i],
                outstanding[i],
                series["reference"][t],
                series["tail"][t],
                series["adv"][t],
                policy,
            )
            status = int(out["status"])
            alerts += status > status_before
            warning_days += status == 1
            lowest = min(lowest, float(out["coverage"]))
            status_before = status
        assert (history["alerts"][i], history["warning_days"][i]) == (alerts, warning_days)
        assert history["lowest_coverage"][i] == lowest
    assert history["per_day_warning"].sum() == history["warning_days"].sum()
