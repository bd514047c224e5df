"""The outbound rules in the pure core: number plan, classes, fines, PINs, quiet hours, SEC-3."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from callguard.config import NumberClass, NumberRule, OutboundSettings, QuietHours, ServiceClass, load_config
from callguard.config._models import CHINA_AREA_CODES, CHINA_NUMBER_RULES, PIN_HASH_PATTERN, NumberingSettings
from callguard.policy import (
    CallRequest,
    DialOut,
    Directory,
    Numbering,
    NumberPlan,
    OutboundPolicy,
    PinBook,
    PinError,
    PinGuard,
    PinLockout,
    Refuse,
    Route,
    TollFraudGuard,
    decide_call,
    hash_pin,
    verify_pin,
)
from callguard.policy.numbers import Classified
from callguard.policy.outbound import in_window
from callguard.policy.pins import check_new_pin

PROJECT = Path(__file__).resolve().parents[2]
CONFIG = load_config(
    PROJECT / "config" / "callguard.toml", {"CALLGUARD_ARI_PASSWORD": "a", "CALLGUARD_AMI_PASSWORD": "b"}
)
DIRECTORY = Directory(CONFIG.directory)
PINS = PinBook({"wang.li": hash_pin("246813"), "liu.yang": hash_pin("135790")}, min_digits=6)
PLAN = NumberPlan(CHINA_NUMBER_RULES, "0", ("110", "119", "120", "122", "112"))
NOON = datetime(2026, 11, 23, 12, 30).astimezone()
MORNING = datetime(2026, 11, 23, 9, 0).astimezone()


def policy(**changes: object) -> OutboundPolicy:
    return OutboundPolicy(DIRECTORY, OutboundSettings.model_validate(changes), PINS)


def decide(
    line: str, dialed: str, at: datetime | None = MORNING, **changes: object
) -> Route | Refuse | DialOut:
    return decide_call(
        DIRECTORY,
        CallRequest(caller=line, dialed=dialed, line=line, at=at),
        no_answer_timeout_s=30,
        outbound=policy(**changes),
    )


# --- number plan ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dialed", "number", "number_class"),
    [
        ("062345678", "62345678", "local"),
        ("02345678", "2345678", "local"),
        ("013800138000", "13800138000", "mobile"),
        ("095588", "95588", "service"),
        ("010086", "10086", "service"),
        ("001012345678", "01012345678", "national"),
        ("0075512345678", "075512345678", "national"),
        ("000852" + "21234567", "0085221234567", "hk_macau"),
        ("000853" + "28123456", "0085328123456", "hk_macau"),
        ("0001212555010", "001212555010", "international"),
        ("016812345678", "16812345678", "premium"),
        ("0168", "168", "premium"),
        ("0160123456", "160123456", "premium"),
        ("0125901234", "125901234", "premium"),
        ("110", "110", "emergency"),
        ("0119", "119", "emergency"),
        ("0", "", "invalid"),
        ("0623", "623", "invalid"),  # too short for a local number
        ("01380013800", "1380013800", "invalid"),  # a mobile number one digit short
        ("011234567", "11234567", "invalid"),  # no such prefix
        ("00123", "0123", "invalid"),  # national too short
        ("0" + "1" * 200, "1" * 200, "invalid"),
        ("0*62345678", "*62345678", "invalid"),
        ("0+8613800138000", "+8613800138000", "invalid"),  # an unknown shape is refused, not guessed
    ],
)
def test_number_plan_classifies_after_stripping_the_access_code(
    dialed: str, number: str, number_class: str
) -> None:
    classified = PLAN.classify(dialed)
    assert (classified.number, classified.number_class) == (number, number_class)


def test_longest_prefix_wins_and_its_length_rule_holds() -> None:
    assert PLAN.classify("000852" + "21234567").number_class == "hk_macau"  # 00852 beats 00
    assert PLAN.classify("000852" + "212345678").number_class == "invalid"  # not "international" instead
    assert PLAN.classify("00044" + "2071234567").number_class == "international"


def test_access_code_nine_and_nine_prefixed_premium_numbers_are_not_confused() -> None:
    """OUT-1: with 9 for an outside line, 9 + 96xxxx is a premium number if the table says
    96 is premium, and a bare 96xxxx is not an outside call at all."""
    rules = (*CHINA_NUMBER_RULES, NumberRule.model_validate({"prefix": "9688", "class": "premium"}))
    plan = NumberPlan(rules, "9", ("110",))
    assert plan.classify("9968812").number_class == "premium"
    assert plan.classify("962345678").number_class == "local"  # 9 + a local number starting 6
    assert not plan.wants_outside_line("0968812")
    assert plan.is_emergency("9110") and plan.is_emergency("110")


# --- OUT-1: premium numbers behind an area code, a national or an international prefix ----------

# Every Chinese area code shape: Beijing 10, 20-29, and every three-digit code 300-999.
AREA_CODES = ["10", *(str(c) for c in range(20, 30)), *(str(c) for c in range(300, 1000))]
PREMIUM_PREFIXES = sorted(r.prefix for r in CHINA_NUMBER_RULES if r.class_ is NumberClass.premium)
DIGITS = "0123456789"


def _premium_forms(area: str, premium: str) -> list[str]:
    """Every way an employee can dial one premium service (access code 0 first)."""
    return [
        "0" + premium,  # as is
        "0" + "0" + premium,  # national prefix, no area code
        "0" + "0" + area + premium,  # national prefix + area code: 0 + 010 + 168xxxxx
        "0" + "0086" + premium,  # the international form of the domestic number
        "0" + "0086" + area + premium,  # 0 + 0086 10 168xxxxx
        "0" + "0086" + "0" + area + premium,  # +86 (0)10 168xxxxx as some write it
    ]


def test_the_premium_prefixes_and_area_codes_come_from_config() -> None:
    assert PREMIUM_PREFIXES == ["1259", "160", "168"] and len(AREA_CODES) == 711
    assert OutboundSettings().numbering.area_codes == CHINA_AREA_CODES


@pytest.mark.parametrize(
    "dialed",
    [
        "001016812345",
        "0075512591234",
        "002116012345",
        "0008610168123456",
        "00086755125912345",
        "0008616812345",
    ],
)
def test_premium_number_behind_an_area_code_is_premium(dialed: str) -> None:
    assert PLAN.classify(dialed) == Classified(dialed[1:], "premium")


def test_every_area_code_and_premium_prefix_in_every_form_is_premium() -> None:
    """Exhaustive: 711 area codes x 3 premium prefixes x 6 forms x subscriber lengths 0-8."""
    for area in AREA_CODES:
        for premium in PREMIUM_PREFIXES:
            for form in _premium_forms(area, premium):
                for tail in range(9):
                    dialed = form + "12345678"[:tail]
                    assert PLAN.classify(dialed).number_class == "premium", dialed


@given(
    st.sampled_from(AREA_CODES),
    st.sampled_from(PREMIUM_PREFIXES),
    st.text(DIGITS, max_size=12),
    st.integers(0, 5),
)
def test_premium_is_premium_however_it_is_dialled(area: str, premium: str, tail: str, form: int) -> None:
    dialed = _premium_forms(area, premium)[form] + tail
    assert PLAN.classify(dialed).number_class == "premium"


def _ordinary_subscriber(subscriber: str) -> bool:
    return not subscriber.startswith(tuple(PREMIUM_PREFIXES))


@given(
    st.sampled_from(AREA_CODES),
    st.text(DIGITS, min_size=7, max_size=8).filter(_ordinary_subscriber),
)
def test_ordinary_national_numbers_stay_national(area: str, subscriber: str) -> None:
    """Nothing legitimate is caught: 0 + area code + a 7-8 digit subscriber number goes out as
    a national call, unchanged."""
    assert PLAN.classify("0" + "0" + area + subscriber) == Classified("0" + area + subscriber, "national")


def test_every_area_code_with_ordinary_subscribers_stays_national() -> None:
    for area in AREA_CODES:
        for subscriber in ("2345678", "62345678", "6012345", "12345678", "95588000", "1691234", "1250123"):
            number = "0" + area + subscriber
            assert PLAN.classify("0" + number) == Classified(number, "national"), number


def test_area_codes_are_data() -> None:
    """With a plan that knows only Beijing's code, 0755 + 1259... is just a national number: the
    classifier looks behind the configured area codes, not behind ones written into the code."""
    beijing_only = Numbering(NumberingSettings(area_codes=("10",)))
    plan = NumberPlan(CHINA_NUMBER_RULES, "0", ("110",), beijing_only)
    assert plan.classify("0075512591234").number_class == "national"
    assert plan.classify("001016812345").number_class == "premium"
    assert policy(numbering={"area_codes": ["10"]}).plan.classify("0075512591234").number_class == "national"
    assert policy().plan.classify("0075512591234").number_class == "premium"


def test_premium_behind_an_area_code_is_refused_and_fined_like_any_premium_number() -> None:
    decision = decide("2003", "0" + "010" + "16812345")
    assert isinstance(decision, Refuse)
    assert (decision.reason, decision.rule, decision.prompt) == ("premium_number", "OUT-1", "refused_premium")
    assert decision.violation is not None and decision.violation.fine_yuan == 50 + 20 * 5


@pytest.mark.parametrize("shape", ["7a", "", "x10", "1234567"])
def test_a_bad_area_code_shape_is_a_config_error(shape: str) -> None:
    with pytest.raises(ValidationError, match="area_codes"):
        NumberingSettings(area_codes=(shape,))


@given(st.text(max_size=250))
def test_any_string_classifies_without_error(dialed: str) -> None:
    classified = PLAN.classify(dialed)
    assert classified.number_class in {
        "emergency",
        "local",
        "mobile",
        "service",
        "national",
        "hk_macau",
        "international",
        "premium",
        "invalid",
    }
    if classified.number_class not in ("invalid", "emergency"):
        assert classified.number.isdigit() and classified.number.isascii()


@given(
    st.one_of(
        st.text(alphabet="0123456789*#+", max_size=220),  # what the dialplan filter lets through
        st.text(alphabet="0123456789;,@:<>%'\"\\ sip", max_size=60),  # SIP URI junk
        st.text(max_size=60),  # any unicode
    ),
    st.sampled_from(DIRECTORY.extensions()),
)
def test_any_dialled_string_from_any_line_is_decided_without_error(dialed: str, line: str) -> None:
    decision = decide(line, dialed)
    assert isinstance(decision, Route | Refuse | DialOut)
    assert decision.as_dict()["action"] in ("route", "refuse", "dial_out")
    if isinstance(decision, DialOut):
        assert decision.number.isdigit()


# --- OUT-1 .. OUT-7 ------------------------------------------------------------------------------


def test_out1_premium_is_refused_with_prompt_and_fine() -> None:
    decision = decide("1001", "016812345678")  # even the director
    assert isinstance(decision, Refuse)
    assert (decision.rule, decision.prompt, decision.cause) == ("OUT-1", "refused_premium", 21)
    assert decision.violation is not None and decision.violation.fine_yuan == 50 + 20 * 5
    assert decision.violation.person == "wang.li"


def test_out1_fine_follows_config() -> None:
    fines = OutboundSettings().fines.model_copy(update={"premium_base": 100, "premium_cost_multiplier": 10})
    decision = decide("2003", "0168123", fines=fines)
    assert isinstance(decision, Refuse) and decision.violation is not None
    assert decision.violation.fine_yuan == 100 + 10 * 5


@pytest.mark.parametrize(
    ("line", "dialed", "expected"),
    [
        ("2003", "062345678", "dial"),  # employee: local
        ("2003", "013800138000", "dial"),  # mobile counts as local
        ("2003", "001012345678", "pin"),  # national needs a PIN
        ("2001", "001012345678", "matter"),  # manager: national by class, registered with a matter code
        ("2001", "0000852" + "21234567", "pin"),  # manager: Hong Kong needs a PIN
        ("1001", "0001212555010", "matter"),  # director: international
        ("9101", "062345678", "dial"),  # the duty guard (role guard) may call locally
    ],
)
def test_out2_classes_of_service(line: str, dialed: str, expected: str) -> None:
    decision = decide(line, dialed)
    assert isinstance(decision, DialOut)
    got = "pin" if decision.needs_pin else ("matter" if decision.needs_matter else "dial")
    assert got == expected


@pytest.mark.parametrize(
    ("dialed", "fine"), [("001012345678", 50), ("000852" + "21234567", 100), ("0001212555010", 500)]
)
def test_out2_above_class_without_pin_option_is_refused_with_the_class_fine(dialed: str, fine: float) -> None:
    decision = decide("2003", dialed, pin_classes=())
    assert isinstance(decision, Refuse) and decision.rule == "OUT-2" and decision.prompt == "refused_class"
    assert decision.violation is not None and decision.violation.fine_yuan == fine


def test_out2_no_pins_configured_means_refused() -> None:
    settings = OutboundSettings()
    decision = decide_call(
        DIRECTORY,
        CallRequest("2003", "001012345678", line="2003", at=MORNING),
        no_answer_timeout_s=30,
        outbound=OutboundPolicy(DIRECTORY, settings, PinBook()),
    )
    assert isinstance(decision, Refuse) and decision.reason == "above_class"


def test_line_and_person_class_overrides() -> None:
    lines = tuple(
        line.model_copy(update={"class_of_service": ServiceClass.international})
        if line.extension == "2003"
        else line
        for line in CONFIG.directory.lines
    )
    directory = Directory(CONFIG.directory.model_copy(update={"lines": lines}))
    outbound = OutboundPolicy(directory, OutboundSettings(), PINS)
    assert outbound.line_class("2003").value == "international"
    assert outbound.line_class("2004").value == "local"
    assert outbound.line_class("8000").value == "internal"  # a line without a person


def test_out3_pin_owner_class_counts_not_the_line() -> None:
    outbound = policy()
    dial = decide("2003", "0001212555010")
    assert isinstance(dial, DialOut) and dial.needs_pin
    assert outbound.pins.owner("246813") == "wang.li" and outbound.pin_covers(dial, "wang.li")
    assert outbound.pins.owner("135790") == "liu.yang" and not outbound.pin_covers(dial, "liu.yang")
    assert outbound.pins.owner("000000") is None and outbound.pins.owner("2468a3") is None
    refused = outbound.pin_refused(CallRequest("2003", "0001212555010", line="2003"), dial)
    assert refused.violation is not None and refused.violation.fine_yuan == 500
    assert refused.violation.rule == "OUT-2" and refused.rule == "OUT-3"


def test_pins_are_stored_as_salted_scrypt_with_their_parameters() -> None:
    digest = hash_pin("246813")
    m = re.fullmatch(r"scrypt\$16384\$8\$1\$([0-9a-f]{32})\$([0-9a-f]{64})", digest)
    assert m is not None and "246813" not in digest
    assert re.fullmatch(PIN_HASH_PATTERN, digest)  # what the config loader accepts
    again = hash_pin("246813")
    assert again.split("$")[4] != m.group(1) and again != digest  # a fresh salt per PIN
    assert verify_pin("246813", digest) and verify_pin("246813", again)
    tampered = digest[:-1] + ("1" if digest.endswith("0") else "0")  # never the same hash again
    assert not verify_pin("246812", digest) and not verify_pin("246813", tampered)
    # The cost travels in the hash: one made with other parameters still verifies.
    salt = bytes(16)
    stronger = hashlib.scrypt(b"246813", salt=salt, n=2**15, r=8, p=1, maxmem=2**26, dklen=32)
    assert verify_pin("246813", f"scrypt$32768$8$1${salt.hex()}${stronger.hex()}")


def test_a_pin_shorter_than_the_minimum_is_not_even_hashed() -> None:
    short = PinBook({"wang.li": hash_pin("2468")}, min_digits=6)
    assert short.owner("2468") is None  # a code set before the minimum was raised no longer works
    assert PinBook({"wang.li": hash_pin("2468")}, min_digits=4).owner("2468") == "wang.li"
    with pytest.raises(PinError, match="6 to 12 digits"):
        check_new_pin("24681", 6)
    with pytest.raises(PinError):
        check_new_pin("24681a", 6)
    check_new_pin("246813", 6)


T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _guard() -> PinGuard:
    return PinGuard(after=3, window=timedelta(minutes=15), lockout=timedelta(minutes=30))


def test_out3_wrong_codes_within_the_window_lock_the_line_for_the_lockout() -> None:
    guard = _guard()
    assert guard.failed("2004", "wu.fang", T0) is None
    assert guard.failed("2004", "wu.fang", T0 + timedelta(minutes=5)) is None
    started = guard.failed("2004", "wu.fang", T0 + timedelta(minutes=10))
    until = T0 + timedelta(minutes=40)
    assert started == PinLockout("2004", "wu.fang", until)
    assert guard.locked("2004", "wu.fang", T0 + timedelta(minutes=39)) == until
    assert guard.locked("2004", "wu.fang", until) is None  # over
    assert guard.locked("2003", "zhou.qiang", T0 + timedelta(minutes=11)) is None  # a colleague
    # During the lockout nothing counts (another call on the same line): it is not extended.
    assert guard.failed("2004", "wu.fang", T0 + timedelta(minutes=20)) is None
    assert guard.locked("2004", "wu.fang", T0 + timedelta(minutes=39)) == until
    # Afterwards the count starts afresh.
    assert guard.failed("2004", "wu.fang", until + timedelta(minutes=1)) is None
    assert guard.locked("2004", "wu.fang", until + timedelta(minutes=1)) is None


def test_out3_wrong_codes_spread_wider_than_the_window_do_not_lock() -> None:
    guard = _guard()
    for minutes in (0, 10, 20, 30, 40):  # never three within 15 minutes
        assert guard.failed("2004", "wu.fang", T0 + timedelta(minutes=minutes)) is None
    assert guard.locked("2004", "wu.fang", T0 + timedelta(minutes=40)) is None


def test_out3_a_person_cannot_spread_guesses_over_their_lines() -> None:
    guard = _guard()
    guard.failed("2004", "wu.fang", T0)
    guard.failed("2005", "wu.fang", T0 + timedelta(minutes=1))  # another line of the same person
    started = guard.failed("2006", "wu.fang", T0 + timedelta(minutes=2))
    assert started is not None and started.person == "wu.fang"
    for line in ("2004", "2005", "2006"):
        assert guard.locked(line, "wu.fang", T0 + timedelta(minutes=3)) is not None
    # A line without a person counts on its own; another person's line is not locked.
    assert guard.locked("2004", None, T0 + timedelta(minutes=3)) is None
    assert guard.locked("2003", "zhou.qiang", T0 + timedelta(minutes=3)) is None


def test_out3_pin_locked_refusal_is_an_alert_without_a_fine() -> None:
    outbound = policy()
    refused = outbound.pin_locked(CallRequest("2004", "001012345678", line="2004"), T0)
    assert (refused.reason, refused.rule, refused.prompt, refused.cause) == (
        "pin_locked",
        "OUT-3",
        "refused_class",
        21,
    )
    assert refused.violation is not None and refused.violation.severity == "alert"
    assert refused.violation.rule == "OUT-3" and refused.violation.fine_yuan == 0
    assert refused.violation.person == "wu.fang" and "2026-11-23T09:00:00+00:00" in refused.violation.reason


def test_out4_duration_policy_per_class() -> None:
    dial = decide("1001", "0001212555010", durations={})  # none configured: the defaults hold
    assert isinstance(dial, DialOut) and dial.duration is not None and dial.duration.limit_s == 180
    local = decide("2003", "062345678")
    assert isinstance(local, DialOut) and local.duration is not None
    assert (local.duration.limit_s, local.duration.warn_before_s, local.duration.hard_cap) == (180, 30, False)
    emergency = decide("2003", "110")
    assert isinstance(emergency, DialOut) and emergency.duration is None and emergency.emergency


def test_out4_configuring_one_class_keeps_the_others_limited() -> None:
    settings = OutboundSettings.model_validate({"durations": {"local": {"limit_s": 60, "warn_before_s": 10}}})
    assert settings.durations["local"].limit_s == 60  # type: ignore[index]
    assert settings.durations["international"].limit_s == 180  # type: ignore[index]


@pytest.mark.parametrize("line", ["9100"])
def test_out5_alarm_line_only_emergency(line: str) -> None:
    for dialed in ("062345678", "1001", "0168123"):
        decision = decide(line, dialed)
        assert isinstance(decision, Refuse) and decision.rule == "OUT-5"
    for dialed in ("110", "0119"):
        assert isinstance(decide(line, dialed), DialOut)


def test_out5_inbound_only_lines_may_not_dial_out_but_may_call_inside() -> None:
    refused = decide("8000", "062345678")
    assert isinstance(refused, Refuse) and refused.rule == "OUT-5" and refused.reason == "inbound_only_line"
    assert isinstance(decide("8000", "1001"), Route)
    assert isinstance(decide("8000", "120"), DialOut)


def test_out6_emergency_from_every_line_without_filters() -> None:
    for line in DIRECTORY.extensions():
        for dialed in ("110", "0110", "119", "120", "122", "112"):
            decision = decide(line, dialed, at=NOON, pin_classes=())
            assert isinstance(decision, DialOut) and decision.rule == "OUT-6"
            assert decision.number == dialed[-3:] and not decision.needs_pin and decision.reminder is None


def test_out7_quiet_hours_remind_or_refuse() -> None:
    window = QuietHours(departments=("sales",), start="12:00", end="14:00", action="remind")
    at_noon = decide("2003", "062345678", at=NOON, quiet_hours=(window,))
    assert isinstance(at_noon, DialOut) and at_noon.reminder == "quiet_hours"
    morning = decide("2003", "062345678", at=MORNING, quiet_hours=(window,))
    assert isinstance(morning, DialOut) and morning.reminder is None
    other_dept = decide("1003", "062345678", at=NOON, quiet_hours=(window,))
    assert isinstance(other_dept, DialOut) and other_dept.reminder is None
    refuse = window.model_copy(update={"action": "refuse"})
    refused = decide("2003", "062345678", at=NOON, quiet_hours=(refuse,))
    assert isinstance(refused, Refuse) and refused.rule == "OUT-7" and refused.prompt == "quiet_hours"
    internal = decide("2003", "2004", at=NOON, quiet_hours=(refuse,))
    assert isinstance(internal, Route)  # quiet hours are for outside calls


@pytest.mark.parametrize(
    ("start", "end", "hour", "minute", "inside"),
    [
        ("12:00", "14:00", 12, 0, True),
        ("12:00", "14:00", 13, 59, True),
        ("12:00", "14:00", 14, 0, False),
        ("12:00", "14:00", 11, 59, False),
        ("22:00", "02:00", 23, 30, True),  # wraps midnight
        ("22:00", "02:00", 1, 59, True),
        ("22:00", "02:00", 2, 0, False),
        ("00:00", "24:00", 17, 0, True),
    ],
)
def test_quiet_hours_windows(start: str, end: str, hour: int, minute: int, inside: bool) -> None:
    window = QuietHours(departments=("sales",), start=start, end=end)
    assert in_window(datetime(2026, 1, 1, hour, minute), window) is inside


# --- SEC-3 ---------------------------------------------------------------------------------------


def test_sec3_concurrent_limit_per_extension_and_release() -> None:
    guard = TollFraudGuard(OutboundSettings().toll_guard)  # 2 per extension at once
    assert guard.admit("a", "2003", 0.0) is None
    assert guard.admit("b", "2003", 1.0) is None
    assert "in progress on 2003" in (guard.admit("c", "2003", 2.0) or "")
    assert guard.admit("d", "2004", 2.0) is None  # another extension is not affected
    guard.release("a")
    assert guard.admit("e", "2003", 3.0) is None


def test_sec3_hourly_limits_roll_over() -> None:
    limits = OutboundSettings().toll_guard.model_copy(
        update={"per_extension_per_hour": 3, "per_extension_concurrent": 10, "total_per_hour": 3}
    )
    guard = TollFraudGuard(limits)
    for i in range(3):
        assert guard.admit(f"c{i}", "2003", float(i)) is None
        guard.release(f"c{i}")
    assert "last hour" in (guard.admit("c3", "2003", 10.0) or "")
    assert guard.admit("c4", "2003", 3600.5) is None  # the first call left the window
    assert guard.admit("x1", "2004", 3601.0) is None
    assert guard.admit("x2", "2004", 3602.0) is None
    assert "in total" in (guard.admit("x3", "2004", 3603.0) or "")


def test_sec3_refusal_is_an_alert_violation() -> None:
    refused = policy().toll_refused(CallRequest("2003", "062345678", line="2003"), "too many")
    assert refused.rule == "SEC-3" and refused.prompt == "refused_limit"
    assert refused.violation is not None and refused.violation.severity == "alert"


def test_the_line_is_the_endpoint_not_the_claimed_caller_id() -> None:
    """A phone on the front desk line that claims to be the director gets the front desk's class."""
    decision = decide_call(
        DIRECTORY,
        CallRequest(caller="1001", dialed="062345678", line="8000", at=MORNING),
        no_answer_timeout_s=30,
        outbound=policy(),
    )
    assert isinstance(decision, Refuse) and decision.reason == "inbound_only_line"


def test_shipped_dialplan_bypasses_exactly_the_configured_emergency_numbers() -> None:
    """OUT-6 lives in the dialplan (it must work without callguard), in the include generated
    from the config: the same numbers as the default config, with and without the access code."""
    text = (PROJECT / "dialplan" / "extensions_callguard_generated.conf").read_text()
    phones = text.split("[callguard-phones]", 1)[1].split("\n[", 1)[0]
    bypassed = set(re.findall(r"^exten => (\d+),1,Goto\(callguard-emergency", phones, re.M))
    numbers = set(OutboundSettings().emergency_numbers)
    assert bypassed == numbers | {"0" + n for n in numbers}


def test_sec3_remembered_calls_count_for_their_hour() -> None:
    """After a restart the last hour's outside calls (from the records) still count."""
    limits = OutboundSettings().toll_guard.model_copy(update={"per_extension_per_hour": 2})
    guard = TollFraudGuard(limits)
    guard.remember("2003", 100.0)
    guard.remember("2003", 50.0)  # out of order: kept sorted
    assert "last hour" in (guard.admit("a", "2003", 200.0) or "")
    assert guard.admit("b", "2003", 3650.5) is None  # the call at 50 s left the window


def test_fines_are_exact_money() -> None:
    """Fines are Decimal from the config to the record: 3 x 0.1 元 is 0.3, not 0.30000000000000004."""
    fines = {"premium_base": 0, "premium_cost_multiplier": 3, "premium_estimated_cost": "0.1"}
    refused = policy(fines=fines).decide(CallRequest("2003", "016812345678", line="2003", at=MORNING))
    assert isinstance(refused, Refuse) and refused.violation is not None
    assert refused.violation.fine_yuan == Decimal("0.3")
    assert refused.violation.as_dict()["fine_yuan"] == "0.3"  # JSON-ready for records, logs, MQTT
