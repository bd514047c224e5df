"""LOG-6: the supervision sample is deterministic, about the configured share, outside calls only."""

from __future__ import annotations

from callguard.policy.supervision import is_outside, recording_name, records_call, sampled


def test_the_sample_is_deterministic_and_about_the_configured_share() -> None:
    ids = [f"callguard-lab-{n}.0" for n in range(20_000)]
    assert not any(sampled(i, 0) for i in ids) and all(sampled(i, 100) for i in ids)
    share = sum(sampled(i, 10) for i in ids) / len(ids)
    assert 0.09 < share < 0.11
    assert [sampled(i, 10) for i in ids[:200]] == [sampled(i, 10) for i in ids[:200]]
    # A bigger share keeps every call a smaller one sampled (the buckets are nested).
    assert all(sampled(i, 25) for i in ids if sampled(i, 10))


def test_only_calls_with_an_outside_party_are_recorded() -> None:
    assert is_outside("inbound", None)
    assert is_outside("outbound", "local") and is_outside("outbound", "national")
    assert not is_outside("outbound", "emergency") and not is_outside("outbound", None)
    assert not is_outside("internal", None)
    assert records_call("c1", 100, "inbound", None) and not records_call("c1", 100, "internal", None)
    assert not records_call("c1", 0, "inbound", None)


def test_a_recording_name_is_safe_for_asterisk() -> None:
    assert recording_name("callguard-lab-1795419865.0") == "supervision-callguard-lab-1795419865.0"
    assert recording_name("a/b c") == "supervision-a_b_c"
