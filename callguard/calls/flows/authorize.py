"""OUT-3: the PIN and the matter code an outside call may need, asked by DTMF.

PINs are never logged, emitted or recorded: the typed code goes only into the `CheckPin`
effect (verified off the event loop) and comes back as its owner.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from callguard.calls import effects as fx
from callguard.calls import events as ev
from callguard.calls.call import Call, Phase
from callguard.calls.context import SessionContext
from callguard.calls.flows.dialogue import Awaiting, Then, ThenDigits, ask, collect, play, resume_prompt
from callguard.calls.flows.refusal import refuse
from callguard.policy import DialOut, OutboundPolicy

PIN_MAX_DIGITS = 12
MATTER_MAX_DIGITS = 8
MATTER_ATTEMPTS = 2

Effects = list[fx.Effect]


def authorize(call: Call, ctx: SessionContext, now: datetime, dial: DialOut, then: Then) -> Effects:
    """Answer the caller and ask what the decision needs (PIN, then matter code), then `then`."""
    if not (dial.needs_pin or dial.needs_matter):
        return then(call, ctx, now)
    call.phase = Phase.authorizing
    call.caller_answered = True
    step = _pin_question(1, then) if dial.needs_pin else _matter_question(1, then)
    return [fx.Answer(call.caller_channel), *step(call, ctx, now)]


def _outbound(ctx: SessionContext) -> OutboundPolicy:
    assert ctx.outbound is not None
    return ctx.outbound


def _pin_question(attempt: int, then: Then) -> Then:
    def question(call: Call, ctx: SessionContext, now: datetime) -> Effects:
        timeout = _outbound(ctx).settings.digit_timeout_s
        typed = pin_typed(attempt, then)
        return ask(
            call, ctx, now, "enter_pin", PIN_MAX_DIGITS, timeout, typed, {"at": "pin", "attempt": attempt}
        )

    return question


def pin_typed(attempt: int, then: Then) -> ThenDigits:
    def typed(call: Call, ctx: SessionContext, now: datetime, pin: str) -> Effects:
        if not pin:
            return _pin_judged(call, ctx, now, attempt, None, typed=False, then=then)

        def checked(call: Call, ctx: SessionContext, now: datetime, result: ev.PinChecked) -> Effects:
            return _pin_judged(call, ctx, now, attempt, result.owner, typed=True, then=then)

        call.stack.append(Awaiting(ev.PinChecked, checked))
        return [fx.CheckPin(pin)]

    return typed


def _pin_judged(
    call: Call, ctx: SessionContext, now: datetime, attempt: int, owner: str | None, typed: bool, then: Then
) -> Effects:
    """The owner of a valid PIN whose class covers the call goes on; a wrong code is counted."""
    outbound = _outbound(ctx)
    dial = call.dial_out
    assert dial is not None
    if owner is not None and outbound.pin_covers(dial, owner):
        call.record.authorized_by = owner
        authorized = fx.Emit(
            "call.authorized", {"ext": call.request.from_line, "person": owner, "rule": "OUT-3"}
        )
        return [authorized, *_matter_question(1, then)(call, ctx, now)]
    why = "no_pin" if not typed else ("unknown_pin" if owner is None else "pin_class_too_low")
    out: Effects = [
        fx.Emit(
            "call.pin_rejected",
            {"ext": call.request.from_line, "attempt": attempt, "reason": why, "rule": "OUT-3"},
        )
    ]
    # Only a wrong code is a guess; nothing typed, or a real code of too low a class, is not.
    if why == "unknown_pin":
        until, alert = _pin_failed(call, ctx, now)
        out += alert
        if until is not None:
            return out + refuse(call, ctx, now, outbound.pin_locked(call.request, until))
    call.dtmf.clear()  # nothing typed after a wrong code counts towards the next one

    def next_try(call: Call, ctx: SessionContext, now: datetime) -> Effects:
        if attempt < outbound.settings.pin_attempts:
            return _pin_question(attempt + 1, then)(call, ctx, now)
        return refuse(call, ctx, now, outbound.pin_refused(call.request, dial))

    return out + play(call, ctx, now, "pin_wrong", next_try)


def _matter_question(attempt: int, then: Then) -> Then:
    def question(call: Call, ctx: SessionContext, now: datetime) -> Effects:
        dial = call.dial_out
        if dial is None or not dial.needs_matter:
            return then(call, ctx, now)
        timeout = _outbound(ctx).settings.digit_timeout_s
        step = {"at": "matter", "attempt": attempt}
        typed = matter_typed(attempt, then)
        return ask(call, ctx, now, "enter_matter", MATTER_MAX_DIGITS, timeout, typed, step)

    return question


def matter_typed(attempt: int, then: Then) -> ThenDigits:
    def typed(call: Call, ctx: SessionContext, now: datetime, matter: str) -> Effects:
        if matter:
            call.record.matter = matter
            return then(call, ctx, now)
        if attempt < MATTER_ATTEMPTS:
            return _matter_question(attempt + 1, then)(call, ctx, now)
        return refuse(call, ctx, now, _outbound(ctx).no_matter(call.request))

    return typed


def resume_question(call: Call, ctx: SessionContext, step: dict[str, Any], then: Then) -> Effects:
    """After a restart: the PIN or matter question the previous process asked goes on (its
    prompt is not asked again)."""
    attempt = int(step.get("attempt", 1))
    timeout = _outbound(ctx).settings.digit_timeout_s
    if step["at"] == "pin":
        answer = collect(PIN_MAX_DIGITS, timeout, pin_typed(attempt, then))
    else:
        answer = collect(MATTER_MAX_DIGITS, timeout, matter_typed(attempt, then))
    return resume_prompt(call, str(step.get("playback", "")), answer, barge_in=True)


def _pin_holder(call: Call, ctx: SessionContext) -> tuple[str, str | None]:
    """Whose PIN entry a lockout counts: the line, and the person who owns it."""
    line = call.request.from_line
    return line or "unknown", ctx.directory.party(line).person if line else None


def pin_locked_until(call: Call, ctx: SessionContext, now: datetime) -> datetime | None:
    lockouts = ctx.pin_lockouts
    return lockouts.locked(*_pin_holder(call, ctx), now) if lockouts else None


def _pin_failed(call: Call, ctx: SessionContext, now: datetime) -> tuple[datetime | None, Effects]:
    """Count a wrong code; announce a lockout it starts; until when entry is locked now."""
    lockouts = ctx.pin_lockouts
    if lockouts is None:
        return None, []
    line, person = _pin_holder(call, ctx)
    started = lockouts.failed(line, person, call.call_id, now)
    alert: Effects = []
    if started is not None:
        until = started.until.isoformat()
        alert.append(
            fx.Emit("alert.pin_lockout", {"ext": line, "person": person, "until": until, "rule": "OUT-3"})
        )
    return lockouts.locked(line, person, now), alert
