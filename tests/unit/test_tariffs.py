"""LOG-4 rating and budgets, pure: increments, initial blocks, bands, effective dates, Decimal
rounding, longest prefix; budget thresholds and the stricter of two budgets; the tariff file."""

from __future__ import annotations

import math
import tomllib
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callguard.config import ConfigError, ServiceClass, load_config
from callguard.config._models import BudgetSettings, Tariff, TariffFile
from callguard.policy import CallRequest, DialOut, Directory, OutboundPolicy, Refuse
from callguard.policy.budgets import Budget, BudgetSnapshot, configured, crossed, month_bounds, month_of
from callguard.policy.tariffs import Rated, TariffTable, billable_seconds, price, rate_call

PROJECT = Path(__file__).resolve().parents[2]
EXAMPLE = TariffTable(
    TariffFile.model_validate(tomllib.loads((PROJECT / "config/tariffs.toml").read_text())).tariffs
)
NOON = datetime(2026, 11, 23, 12, 0).astimezone()


def _rate(table: TariffTable, at: datetime, talk_s: float) -> Rated:
    rated = table.rate("1234567", "local", at, talk_s)
    assert rated is not None
    return rated


def tariff(**kw: object) -> Tariff:
    return Tariff.model_validate({"id": "t", "classes": ["local"], **kw})


# --- the shipped example, by hand ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "cls", "talk_s", "cost", "entry"),
    [
        ("62345678", "local", 4, "0.22", "cn-local"),  # within the first 3 minutes
        ("62345678", "local", 180, "0.22", "cn-local"),
        ("62345678", "local", 180.2, "0.33", "cn-local"),  # a started minute after the block
        ("62345678", "local", 300, "0.44", "cn-local"),  # 3 min + 2 started minutes
        ("13800138000", "mobile", 61, "0.22", "cn-local"),  # mobile: as local
        ("01012345678", "national", 4, "0.07", "cn-national"),
        ("01012345678", "national", 6, "0.07", "cn-national"),
        ("01012345678", "national", 61, "0.77", "cn-national"),  # 11 started 6 s blocks
        ("0085221234567", "hk_macau", 12.5, "0.60", "cn-hk-macau"),
        ("00886212345678", "international", 7, "0.40", "cn-taiwan"),  # prefix beats class
        ("0012125550100", "international", 7, "1.60", "cn-international"),
        ("95588", "service", 30, "0.22", "cn-service"),
        ("110", "emergency", 600, "0.00", "cn-emergency"),
    ],
)
def test_example_tariff_prices_calls_as_published(
    number: str, cls: str, talk_s: float, cost: str, entry: str
) -> None:
    rated = EXAMPLE.rate(number, cls, NOON, talk_s)
    assert rated is not None
    assert (rated.cost, rated.tariff) == (Decimal(cost), entry)
    assert isinstance(rated.cost, Decimal)


def test_unanswered_costs_nothing_and_an_unknown_class_is_unrated() -> None:
    assert rate_call(EXAMPLE, "62345678", "local", None, None) == (Decimal("0.00"), None)
    assert rate_call(EXAMPLE, "16812345", "premium", NOON, NOON + timedelta(seconds=5)) == (None, None)
    answered = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
    cost, entry = rate_call(EXAMPLE, "62345678", "local", answered, answered + timedelta(seconds=200))
    assert (cost, entry) == (Decimal("0.33"), "cn-local")


# --- properties ------------------------------------------------------------------------------------

money = st.decimals(min_value=0, max_value=10, places=4, allow_nan=False, allow_infinity=False)


@given(
    talk=st.floats(min_value=0, max_value=20_000, allow_nan=False),
    fee=money,
    initial_s=st.integers(0, 600),
    initial=money,
    step_s=st.integers(1, 600),
    step=money,
)
def test_price_is_fee_plus_initial_block_plus_started_increments(
    talk: float, fee: Decimal, initial_s: int, initial: Decimal, step_s: int, step: Decimal
) -> None:
    seconds = billable_seconds(talk)
    cost = price(seconds, fee, initial_s, initial, step_s, step)
    steps = math.ceil(max(0, seconds - initial_s) / step_s)
    exact = fee + (initial + steps * step if seconds > 0 else 0)
    assert cost == exact.quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert cost.as_tuple().exponent == -2  # always to the fen
    assert seconds >= round(talk, 6) and seconds - talk < 1  # started seconds, to the microsecond


@given(st.floats(min_value=0, max_value=5000, allow_nan=False), st.floats(min_value=0, max_value=5000))
def test_talking_longer_never_costs_less(a: float, b: float) -> None:
    short, long = sorted((a, b))
    cheap = EXAMPLE.rate("01012345678", "national", NOON, short)
    dear = EXAMPLE.rate("01012345678", "national", NOON, long)
    assert cheap is not None and dear is not None and cheap.cost <= dear.cost


def test_rounding_is_half_up_per_call() -> None:
    t = TariffTable((tariff(initial_s=60, initial_price="0.125", increment_s=60, increment_price="0.0049"),))
    assert _rate(t, NOON, 10).cost == Decimal("0.13")
    assert _rate(t, NOON, 61).cost == Decimal("0.13")  # 0.1299
    assert _rate(t, NOON, 0).cost == Decimal("0.00")


@given(st.sampled_from(["0", "00", "008", "0085", "00852"]), st.sampled_from(["00", "008", "0085", "00852"]))
def test_longest_prefix_wins_whatever_the_order(a: str, b: str) -> None:
    entries = tuple(
        Tariff.model_validate({"id": f"p{p}", "prefixes": [p], "initial_price": len(p)}) for p in (a, b)
    )
    for ordered in (entries, entries[::-1]):
        rated = TariffTable(ordered).rate("0085221234567", "hk_macau", NOON, 5)
        assert rated is not None and rated.tariff == f"p{max(a, b, key=len)}"


def test_effective_dates_pick_the_tariff_in_force_on_the_day() -> None:
    old = tariff(id="old", initial_price="0.22")
    new = tariff(id="new", initial_price="0.20", effective_from=date(2026, 12, 1))
    table = TariffTable((new, old))
    before = datetime(2026, 11, 30, 23, 59).astimezone()
    after = datetime(2026, 12, 1, 0, 0).astimezone()
    assert _rate(table, before, 5).tariff == "old"
    assert _rate(table, after, 5).tariff == "new"
    assert TariffTable((new,)).rate("1234567", "local", before, 5) is None  # nothing in force yet


def test_time_of_day_band_prices_by_the_local_answer_time() -> None:
    t = TariffTable(
        (
            tariff(
                initial_price="0.22",
                bands=[{"name": "night", "start": "21:00", "end": "07:00", "initial_price": "0.11"}],
            ),
        )
    )
    evening = datetime(2026, 11, 23, 20, 59, 59).astimezone()
    night = datetime(2026, 11, 23, 21, 0).astimezone()
    morning = datetime(2026, 11, 24, 6, 59).astimezone()
    assert _rate(t, evening, 5).tariff == "t"
    assert _rate(t, evening, 5).cost == Decimal("0.22")
    # A call is rated by its start's band, even when it talks on past the boundary.
    assert _rate(t, night, 5).cost == Decimal("0.11")
    assert _rate(t, morning, 5).tariff == "t/night"


# --- budgets ---------------------------------------------------------------------------------------


@given(
    st.decimals(min_value="0.01", max_value=10_000, places=2),
    st.decimals(min_value=0, max_value=20_000, places=4),
)
def test_thresholds_crossed_are_those_reached(amount: Decimal, spend: Decimal) -> None:
    got = crossed(amount, spend, (80, 100))
    assert got == [p for p in (80, 100) if spend / amount * 100 >= p]


def test_a_person_budget_and_the_department_budget_both_apply_the_stricter_wins() -> None:
    dept = Budget("department", "sales", Decimal(10), "downgrade", ServiceClass.local)
    person = Budget("person", "liu.yang", Decimal(5), "block")
    snap = BudgetSnapshot("2026-11", {b.key: b for b in (dept, person)}, {dept.key: Decimal(10)})
    assert snap.charged_to("liu.yang", "sales") == "person:liu.yang"
    assert snap.charged_to("sun.hui", "sales") == "department:sales"
    assert snap.limit("liu.yang", "sales") == dept  # the person's own is not used up
    spent = BudgetSnapshot(snap.month, snap.budgets, {dept.key: Decimal(10), person.key: Decimal(5)})
    assert spent.limit("liu.yang", "sales") == person  # block beats downgrade
    assert spent.limit("sun.hui", "sales") == dept
    assert BudgetSnapshot(snap.month, snap.budgets, {}).limit("liu.yang", "sales") is None


def test_stored_budgets_override_config_and_months_are_local() -> None:
    settings = BudgetSettings.model_validate({"department": [{"name": "admin", "amount": "1.00"}]})
    stored = Budget("department", "admin", Decimal(50), "block")
    assert configured(settings)["department:admin"].amount == Decimal("1.00")
    assert configured(settings, [stored])["department:admin"] == stored
    start, end = month_bounds("2026-12")
    assert month_of(start) == "2026-12" and month_of(end) == "2027-01"
    assert month_of(end - timedelta(microseconds=1)) == "2026-12"


def test_tariff_and_budget_mistakes_are_one_line_each(tmp_path: Path) -> None:
    (tmp_path / "directory.toml").write_text((PROJECT / "config/directory.toml").read_text())
    (tmp_path / "tariffs.toml").write_text('[[tariffs]]\nid = "x"\nclasses = ["local"]\nincrement_s = 0\n')
    (tmp_path / "callguard.toml").write_text(
        '[ari]\npassword = "a"\n[ami]\npassword = "b"\n[outbound]\ntariffs = "tariffs.toml"\n'
        '[[budgets.department]]\nname = "nobody"\namount = 5\n'
    )
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "callguard.toml", {})
    problems = err.value.problems
    assert any(p.startswith(f"{tmp_path / 'tariffs.toml'}: tariffs[0].increment_s:") for p in problems)
    (tmp_path / "tariffs.toml").write_text('[[tariffs]]\nid = "x"\nclasses = ["local"]\n')
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "callguard.toml", {})
    assert err.value.problems == [
        f"{tmp_path / 'callguard.toml'}: budgets.department[0].name: unknown department 'nobody'"
    ]


# --- the decision at call start --------------------------------------------------------------------

CONFIG = load_config(
    PROJECT / "config" / "callguard.toml", {"CALLGUARD_ARI_PASSWORD": "a", "CALLGUARD_AMI_PASSWORD": "b"}
)


def _policy(budget: Budget, spend: str) -> OutboundPolicy:
    policy = OutboundPolicy(Directory(CONFIG.directory), CONFIG.outbound, tariffs=EXAMPLE)
    policy.budgets = BudgetSnapshot("2026-11", {budget.key: budget}, {budget.key: Decimal(spend)})
    return policy


def _call(line: str, dialed: str) -> CallRequest:
    return CallRequest(caller=line, dialed=dialed, line=line, at=NOON)


def test_a_used_up_block_budget_refuses_outside_calls_but_never_emergency_calls() -> None:
    sales = Budget("department", "sales", Decimal("1.00"), "block")
    under = _policy(sales, "0.99").decide(_call("2003", "062345678"))
    assert isinstance(under, DialOut) and under.budget == "department:sales"
    refused = _policy(sales, "1.00").decide(_call("2003", "062345678"))
    assert isinstance(refused, Refuse)
    assert (refused.reason, refused.rule, refused.prompt, refused.cause) == (
        "budget_exhausted",
        "LOG-4",
        "budget_exhausted",
        21,
    )
    assert refused.violation is None  # the budget is used up: nobody broke a rule
    for emergency in ("0110", "110"):
        assert isinstance(_policy(sales, "5").decide(_call("2003", emergency)), DialOut)  # OUT-6


def test_a_used_up_downgrade_budget_limits_calls_to_its_class() -> None:
    admin = Budget("department", "admin", Decimal("1.00"), "downgrade", ServiceClass.local)
    policy = _policy(admin, "1.20")
    national = policy.decide(_call("1001", "001012345678"))  # 王丽, a director: international class
    assert isinstance(national, Refuse)
    assert (national.reason, national.rule, national.prompt) == ("above_class", "LOG-4", "refused_class")
    assert isinstance(policy.decide(_call("1001", "062345678")), DialOut)
