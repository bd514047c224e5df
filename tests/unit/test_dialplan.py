"""The generated fail-safe dialplan (OUT-4, OUT-5, OUT-6): rendered from the configuration, so
the two cannot drift; check-config says when the include on disk is missing or stale."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from callguard.config import load_config
from callguard.dialplan import include_problem, render_dialplan
from callguard.lab.asterisk import AsteriskPorts, _pjsip_conf
from callguard.policy import Directory

PROJECT = Path(__file__).resolve().parents[2]
EXAMPLE = PROJECT / "config" / "callguard.toml"
SHIPPED = PROJECT / "dialplan" / "extensions_callguard_generated.conf"
ENV = {"CALLGUARD_ARI_PASSWORD": "a", "CALLGUARD_AMI_PASSWORD": "b"}


def _copy_example(tmp_path: Path, extra: str = "", replace: tuple[str, str] = ("", "")) -> Path:
    """The example config beside its directory, with `extra` appended and one text replaced."""
    shutil.copy(PROJECT / "config" / "directory.toml", tmp_path / "directory.toml")
    shutil.copy(PROJECT / "config" / "pins.toml", tmp_path / "pins.toml")
    shutil.copy(PROJECT / "config" / "tariffs.toml", tmp_path / "tariffs.toml")
    text = EXAMPLE.read_text().replace(
        'dialplan_include = "../dialplan/extensions_callguard_generated.conf"',
        'dialplan_include = "generated.conf"',
    )
    if replace[0]:
        assert replace[0] in text
        text = text.replace(*replace)
    path = tmp_path / "callguard.toml"
    path.write_text(text + extra)
    return path


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callguard", *args],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **ENV},
    )


def test_shipped_include_is_the_render_of_the_example_config() -> None:
    """Golden: dialplan/extensions_callguard_generated.conf is what the example renders to."""
    assert render_dialplan(load_config(EXAMPLE, ENV)) == SHIPPED.read_text()


def test_golden_content_of_the_example() -> None:
    text = render_dialplan(load_config(EXAMPLE, ENV))
    lines = text.splitlines()
    # OUT-6: every emergency number, with and without the access code, in the phones' context.
    for number in ("110", "119", "120", "122", "112"):
        assert f"exten => {number},1,Goto(callguard-emergency,{number},1)" in lines
        assert f"exten => 0{number},1,Goto(callguard-emergency,{number},1)" in lines
    assert " same => n,Dial(PJSIP/${EXTEN}@pstn,120)" in lines
    # OUT-5: the alarm line 9100 and the front desk 8000, by context, not by a set_var.
    alarm = text.split("[callguard-alarm-lines]")[1].split("\n[")[0]
    inbound_only = text.split("[callguard-inbound-only-lines]")[1].split("\n[")[0]
    assert "exten => 9100,1,NoOp()" in alarm and "8000" not in alarm
    assert "exten => 8000,1,NoOp()" in inbound_only and "9100" not in inbound_only
    # Local, mobile and service numbers after the access code, each with its class's limit.
    assert "exten => _062XXXXX,1,Set(CG_OUT=${EXTEN:1})" not in lines  # 7-8 digits: 0 + 6 + 6..7 X
    assert "exten => _06XXXXXX,1,Set(CG_OUT=${EXTEN:1})" in lines
    assert "exten => _06XXXXXXX,1,Set(CG_OUT=${EXTEN:1})" in lines
    assert "exten => _013XXXXXXXXX,1,Set(CG_OUT=${EXTEN:1})" in lines
    assert "exten => _095XXX,1,Set(CG_OUT=${EXTEN:1})" in lines
    assert "exten => local,1,Set(CG_LIMIT=L(180000:30000))" in lines
    # Premium (OUT-1) and PIN classes are refused; a longer prefix than mobile's 16 wins.
    for refused in ("_0168.", "_0160.", "_01259.", "_001.", "_000.", "_000852."):
        assert any(line.startswith(f"exten => {refused},1,Hangup(21)") for line in lines), refused
    assert " same => n,Dial(PJSIP/${CG_OUT}@pstn,60,${CG_LIMIT})" in lines
    assert "CG_LINE_ROLE" not in text


def test_a_change_of_config_changes_the_output(tmp_path: Path) -> None:
    base = render_dialplan(load_config(_copy_example(tmp_path), ENV))
    changed = load_config(
        _copy_example(
            tmp_path,
            extra="\n[outbound.durations.mobile]\nlimit_s = 60\nwarn_before_s = 0\n",
            replace=('trunk = "pstn"', 'trunk = "carrier-a"'),
        ),
        ENV,
    )
    text = render_dialplan(changed)
    assert text != base
    assert "exten => mobile,1,Set(CG_LIMIT=L(60000))" in text  # no warning when warn_before is 0
    assert "@carrier-a," in text and "@pstn" not in text
    other_code = load_config(_copy_example(tmp_path, replace=('access_code = "0"', 'access_code = "9"')), ENV)
    nine = render_dialplan(other_code)
    assert "exten => 9110,1,Goto(callguard-emergency,110,1)" in nine
    assert "exten => _96XXXXXX,1,Set(CG_OUT=${EXTEN:1})" in nine
    assert "exten => _9.,1,Hangup(21) ; any other outside number" in nine
    fewer = load_config(
        _copy_example(tmp_path, replace=('"110", "119", "120", "122", "112"', '"110", "119"')), ENV
    )
    assert "122" not in render_dialplan(fewer).split("[callguard-emergency]")[0]


def test_check_config_detects_a_missing_or_stale_include(tmp_path: Path) -> None:
    path = _copy_example(tmp_path)
    config = load_config(path, ENV)
    problem = include_problem(config)
    assert problem is not None and problem.startswith(f"{path}: service.dialplan_include: ")
    assert "generated.conf is missing" in problem
    result = _cli("check-config", str(path))
    assert result.returncode == 1 and result.stderr.strip() == problem  # one line

    rendered = _cli("dialplan", "render", "--config", str(path), "--out", str(tmp_path / "generated.conf"))
    assert rendered.returncode == 0, rendered.stderr
    assert _cli("check-config", str(path)).returncode == 0

    # Someone adds an emergency number to the config and forgets the dialplan.
    _copy_example(tmp_path, replace=('"122", "112"]', '"122", "112", "999"]'))
    stale = _cli("check-config", str(path))
    assert stale.returncode == 1
    assert stale.stderr.count("\n") == 1 and "is not current" in stale.stderr
    assert "callguard dialplan render --config" in stale.stderr


def test_empty_include_path_is_not_checked(tmp_path: Path) -> None:
    path = _copy_example(tmp_path, replace=('dialplan_include = "generated.conf"', 'dialplan_include = ""'))
    assert include_problem(load_config(path, ENV)) is None


def test_render_prints_to_stdout_without_out() -> None:
    result = _cli("dialplan", "render", "--config", str(EXAMPLE))
    assert result.returncode == 0 and result.stdout == SHIPPED.read_text()


def test_desk_phones_cannot_transfer_by_refer() -> None:
    """A SIP REFER would hand the call to Asterisk's own transfer, outside the rules (XFER-2)."""
    directory = Directory(load_config(EXAMPLE, ENV).directory)
    ports = AsteriskPorts(5060, 8088, 5038, 5090, "127.0.0.2", {e: 16000 for e in directory.extensions()})
    conf = _pjsip_conf(ports, directory)
    endpoints = [block for block in conf.split("\n[") if "context = callguard-phones" in block]
    assert len(endpoints) == len(directory.extensions())
    assert all("allow_transfer = no" in block for block in endpoints)
    assert "CG_LINE_ROLE" not in conf
