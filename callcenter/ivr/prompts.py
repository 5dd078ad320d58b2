"""Prompt names → what Asterisk plays, and → what the simulator prints.

Prompts live in ``ivr_flows/prompts/LANG/NAME.txt`` (the source text) and
``NAME.wav`` (generated audio). A name with a scheme (``sound:beep``,
``digits:123``) is passed to Asterisk as it is; only Asterisk's own media
schemes are names with a scheme (``sond:beep`` is a mistake, not a scheme).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

_ZH_NUMERALS = "零一二三四五六七八九"

# The media URI schemes Asterisk's ARI plays (besides our own prompt names).
MEDIA_SCHEMES = ("characters", "digits", "number", "recording", "sound", "tone")


def _file(prompts_dir: Path, lang: str, name: str, suffix: str) -> Path:
    return prompts_dir / lang / f"{name}{suffix}"


def prompt_exists(prompts_dir: Path, lang: str, name: str) -> bool:
    if ":" in name:
        return True
    return any(_file(prompts_dir, lang, name, s).exists() for s in (".txt", ".wav"))


def media_scheme(name: str) -> str | None:
    """The scheme of ``sound:beep`` (``sound``); None for a prompt name."""
    return name.split(":", 1)[0] if ":" in name else None


def prompt_text_file(prompts_dir: Path, lang: str, name: str) -> Path:
    """The source of a prompt: its words, from which ``make prompts`` makes the audio."""
    return _file(prompts_dir, lang, name, ".txt")


def prompt_audio_file(prompts_dir: Path, lang: str, name: str) -> Path:
    return _file(prompts_dir, lang, name, ".wav")


def zh_number(n: int) -> str:
    """0–99 in Chinese numerals, as the generated number prompts say them."""
    if n < 10:
        return _ZH_NUMERALS[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else _ZH_NUMERALS[tens]) + "十" + (_ZH_NUMERALS[ones] if ones else "")


@dataclass(frozen=True, slots=True)
class PromptLibrary:
    prompts_dir: Path  # where the service reads them
    media_root: str = "/hotline/prompts"  # where Asterisk reads the same folder

    def media(self, name: str, lang: str) -> str:
        return name if ":" in name else f"sound:{self.media_root}/{lang}/{name}"

    def text(self, name: str, lang: str) -> str:
        """The words of a prompt (for the simulator); the scheme URI for built-ins."""
        if ":" in name:
            return name
        try:
            return _file(self.prompts_dir, lang, name, ".txt").read_text(encoding="utf-8").strip()
        except OSError:
            return f"<{name}>"

    def _own(self, lang: str, name: str) -> bool:
        return prompt_exists(self.prompts_dir, lang, name)

    def say_digits(self, digits: str, lang: str) -> list[str]:
        """Digit by digit: our own recordings when the language has them, else Asterisk's say."""
        if all(self._own(lang, f"digits/{d}") for d in set(digits) if d.isdigit()):
            return [f"digits/{d}" for d in digits if d.isdigit()]
        return [f"digits:{digits}"]

    def say_number(self, n: int, lang: str) -> list[str]:
        if self._own(lang, f"numbers/{n}"):
            return [f"numbers/{n}"]
        return [f"number:{n}"]

    def say_date(self, day: date, lang: str) -> list[str]:
        """Month and day ("11月28日" / "November 28th")."""
        if self._own(lang, "date_month") and self._own(lang, "date_day"):
            return [
                *self.say_number(day.month, lang),
                "date_month",
                *self.say_number(day.day, lang),
                "date_day",
            ]
        return [f"sound:digits/mon-{day.month - 1}", *self.say_number(day.day, lang)]
