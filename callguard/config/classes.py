"""Roles, kinds of line, classes of service and of number: the vocabulary the rules use."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    employee = "employee"
    assistant = "assistant"
    manager = "manager"
    director = "director"
    operator = "operator"
    guard = "guard"


class LineKind(StrEnum):
    desk = "desk"
    front_desk = "front_desk"  # receives calls only: no outside calls (OUT-5)
    inbound_only = "inbound_only"  # e.g. a publicity line: no outside calls (OUT-5)
    alarm = "alarm"  # the guard room: dials emergency numbers only (OUT-5)
    duty = "duty"
    operator = "operator"


class ServiceClass(StrEnum):
    """Classes of service, lowest first (OUT-2): a line may call numbers up to its class."""

    internal = "internal"
    local = "local"
    national = "national"
    hk_macau = "hk_macau"
    international = "international"


class NumberClass(StrEnum):
    """What an outside number is, after the trunk access code is stripped."""

    emergency = "emergency"
    local = "local"
    mobile = "mobile"
    service = "service"
    national = "national"
    hk_macau = "hk_macau"
    international = "international"
    premium = "premium"
