"""The shipped prompts: every one in every language, in the format Asterisk plays as is."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import wave
from pathlib import Path

SOUNDS = Path(__file__).resolve().parents[2] / "sounds"
PROMPTS = tomllib.loads((SOUNDS / "prompts.toml").read_text())
LANGS = ("en", "zh_CN")
DIRECTORY = tomllib.loads((SOUNDS.parent / "config" / "directory.toml").read_text())
# greeting_department is a template: one greeting_<id> per department of the directory.
FILES = [n for n in PROMPTS if n != "greeting_department"] + [
    f"greeting_{d['id']}" for d in DIRECTORY["departments"]
]


def _format(path: Path) -> tuple[int, int, int, float]:
    with wave.open(str(path)) as w:
        return w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes() / w.getframerate()


def test_every_prompt_is_shipped_in_every_language_as_8khz_mono_pcm() -> None:
    assert len(PROMPTS) >= 10
    for name, texts in PROMPTS.items():
        for lang in LANGS:
            assert texts[lang].strip(), f"{name}: no {lang} text"
    for name in FILES:
        for lang in LANGS:
            rate, channels, width, seconds = _format(SOUNDS / lang / f"{name}.wav")
            assert (rate, channels, width) == (8000, 1, 2), f"{lang}/{name}.wav"
            assert 0.5 < seconds < 20, f"{lang}/{name}.wav lasts {seconds:.1f} s"


def _generate(tmp_path: Path, company: str, departments: str = "") -> Path:
    directory = tmp_path / f"{len(company)}.toml"
    directory.write_text(f'company = "{company}"\n{departments}')
    out = tmp_path / f"out-{len(company)}"
    result = subprocess.run(
        [sys.executable, str(SOUNDS / "generate"), "--directory", str(directory), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return out


def test_the_script_regenerates_the_shipped_prompts(tmp_path: Path) -> None:
    departments = "".join(
        f'[[departments]]\nid = "{d["id"]}"\nname = "{d["name"]}"\n' for d in DIRECTORY["departments"]
    )
    out = _generate(tmp_path, DIRECTORY["company"], departments)
    made = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.wav"))
    assert made == sorted(f"{lang}/{name}.wav" for lang in LANGS for name in FILES)
    for rel in made:
        # Same text, same length (byte equality would tie the test to one espeak-ng release).
        shipped, fresh = _format(SOUNDS / rel)[3], _format(out / rel)[3]
        assert abs(shipped - fresh) <= 0.15 * shipped, f"{rel} is stale: run sounds/generate"


def test_the_greeting_says_the_company_name(tmp_path: Path) -> None:
    out = _generate(tmp_path, "Acme")
    # "Hello, Acme." is much shorter than the example company's long name.
    assert _format(out / "en" / "greeting.wav")[3] < 0.7 * _format(SOUNDS / "en" / "greeting.wav")[3]
