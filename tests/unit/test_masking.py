"""SEC-2: outside numbers are masked in MQTT payloads (by default) and in logs (when asked);
extensions and emergency numbers stay readable. And the MQTT client's user and TLS."""

from __future__ import annotations

import json
import ssl
from pathlib import Path
from typing import Any

import pytest
import structlog

from callguard.config import load_config
from callguard.events.mqtt import MqttPublisher, client_options
from callguard.events.notifier import Emitter
from callguard.logs import configure_logging
from callguard.policy.masking import mask_fields, mask_number, number_keeper

PROJECT = Path(__file__).resolve().parents[2]
ENV = {"CALLGUARD_ARI_PASSWORD": "a", "CALLGUARD_AMI_PASSWORD": "b"}


@pytest.fixture(scope="module")
def keep() -> Any:
    return number_keeper(load_config(PROJECT / "config" / "callguard.toml", ENV))


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("13800138000", "138****8000"),
        ("013800138000", "013*****8000"),
        ("001012345678", "001*****5678"),
        ("62345678", "******78"),
        ("95588", "***88"),
        ("+8613800138000", "+86*******8000"),
    ],
)
def test_mask_number_keeps_first_three_and_last_four_or_only_the_last_two(number: str, masked: str) -> None:
    assert mask_number(number) == masked
    assert len(mask_number(number)) == len(number)


def test_extensions_and_emergency_numbers_stay_readable(keep: Any) -> None:
    fields = {
        "call_id": "1712345678.42",
        "caller": "13912345678",
        "dialed": "013800138000",
        "ext": "2003",
        "to": "1712345678.43",  # a channel id, not a number
        "targets": ["1001", "13900001111"],
        "reason": "dialled 13800138000 after 120 s",  # free text quoting a number (review F3)
        "number": "110",
        "extension": "0119",
        "pattern": "0755",
        "talk_s": 12.5,
    }
    out = mask_fields(fields, keep)
    assert out["caller"] == "139****5678" and out["dialed"] == "013*****8000"
    assert out["ext"] == "2003" and out["to"] == "1712345678.43"
    assert out["targets"] == ["1001", "139****1111"]
    assert out["number"] == "110" and out["extension"] == "0119"  # OUT-6 numbers are public
    assert out["pattern"] == "**55"
    assert out["reason"] == "dialled 138****8000 after 120 s" and out["talk_s"] == 12.5
    assert fields["caller"] == "13912345678"  # the caller's dict is not changed


class _Publisher(MqttPublisher):
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def publish(self, event: str, fields: dict[str, Any]) -> None:
        self.sent.append((event, fields))


def test_emitter_masks_mqtt_but_not_the_log_line(keep: Any) -> None:
    publisher = _Publisher()
    emit = Emitter(publisher, mqtt_keep=keep)
    with structlog.testing.capture_logs() as logs:
        emit("call.started", call_id="c1", caller="13912345678", dialed="2003", ext="13912345678")
    assert publisher.sent == [
        ("call.started", {"call_id": "c1", "caller": "139****5678", "dialed": "2003", "ext": "139****5678"})
    ]
    assert logs[0]["caller"] == "13912345678"  # [log] mask_numbers is off by default
    unmasked = _Publisher()
    Emitter(unmasked)("call.started", call_id="c1", caller="13912345678")
    assert unmasked.sent[0][1]["caller"] == "13912345678"


def test_log_lines_are_masked_when_configured(keep: Any, tmp_path: Path) -> None:
    log_file = tmp_path / "callguard.log"
    try:
        configure_logging("info", str(log_file), keep)
        structlog.get_logger("t").info("call.started", caller="13912345678", ext="1001", dialed="095588")
    finally:
        structlog.reset_defaults()
    entry = json.loads(log_file.read_text().splitlines()[-1])
    assert entry["event"] == "call.started"
    assert entry["caller"] == "139****5678" and entry["ext"] == "1001" and entry["dialed"] == "****88"
    assert "13912345678" not in log_file.read_text()


def test_mqtt_defaults_mask_and_log_defaults_do_not() -> None:
    config = load_config(PROJECT / "config" / "callguard.toml", ENV)
    assert config.mqtt.mask_numbers is True and config.log.mask_numbers is False


def test_mqtt_user_password_from_the_environment_and_tls_files(tmp_path: Path) -> None:
    (tmp_path / "directory.toml").write_text('company = "Acme"\n')
    path = tmp_path / "callguard.toml"
    path.write_text(
        '[mqtt]\nusername = "cg"\ntls = true\nca_file = "ca.pem"\ncert_file = "/etc/c.pem"\n'
        'key_file = "k.pem"\n'
    )
    settings = load_config(path, {**ENV, "CALLGUARD_MQTT_PASSWORD": "s3cret"}).mqtt
    # Relative files are relative to the config file, like every other path.
    assert settings.ca_file == str(tmp_path / "ca.pem") and settings.cert_file == "/etc/c.pem"
    assert settings.key_file == str(tmp_path / "k.pem") and settings.tls_insecure is False
    options = client_options(settings.model_copy(update={"ca_file": "", "cert_file": "", "key_file": ""}))
    assert options["username"] == "cg" and options["password"] == "s3cret"
    tls = options["tls_context"]  # the system's CAs: the broker's chain and name are verified
    assert tls.verify_mode == ssl.CERT_REQUIRED and tls.check_hostname is True
    insecure = client_options(
        settings.model_copy(update={"ca_file": "", "cert_file": "", "tls_insecure": True})
    )
    assert insecure["tls_context"].check_hostname is False  # the name only: the chain still is
    assert insecure["tls_context"].verify_mode == ssl.CERT_REQUIRED
    # A CA file that cannot be read is an error the publisher reports (mqtt.connect_failed).
    with pytest.raises(OSError):
        client_options(settings)


def test_anonymous_and_plain_by_default(tmp_path: Path) -> None:
    (tmp_path / "directory.toml").write_text('company = "Acme"\n')
    path = tmp_path / "callguard.toml"
    path.write_text("")
    options = client_options(load_config(path, ENV).mqtt)
    assert options == {"username": None, "password": None}
