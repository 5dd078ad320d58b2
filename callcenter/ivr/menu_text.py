"""Menus whose words and keys disagree: a warning, not a refusal.

A caller knows a menu's keys only from what its prompt says. A prompt that
names a key (按3…, 按井号键, "press star") the menu lacks sends callers to the
"invalid" prompt; a choice no prompt mentions is one nobody finds. Either can
be on purpose (a hidden operator key), so the set still loads; the validator
prints the warning at its line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from callcenter.ivr import messages
from callcenter.ivr.flowset import FlowError, FlowSet
from callcenter.ivr.prompts import media_scheme, prompt_text_file
from callcenter.ivr.schema import Flow, MenuNode

# What a prompt says → the key it names. Chinese and English are both looked for
# in every language's text (the Chinese menu offers "English service, press 9").
_ZH_DIGITS = {c: str(i) for i, c in enumerate("零一二三四五六七八九")} | {"〇": "0", "幺": "1"}
_EN_DIGITS = {
    w: str(i) for i, w in enumerate("zero one two three four five six seven eight nine".split())
} | {"oh": "0"}
_SPOKEN_KEYS: tuple[tuple[re.Pattern[str], str | None], ...] = (
    (re.compile(r"按\s*([0-9])(?![0-9])"), None),
    # 按一 is a key; 按一下 ("press once") is not.
    (re.compile(r"按\s*([零〇一幺二三四五六七八九])(?![下次十百零〇一二三四五六七八九])"), None),
    (re.compile(r"\bpress\s+(zero|oh|one|two|three|four|five|six|seven|eight|nine)\b", re.I), None),
    (re.compile(r"按\s*(?:一下)?\s*(?:井号|＃|#)\s*号?\s*键?"), "#"),
    (re.compile(r"按\s*(?:一下)?\s*(?:星号|米字|＊|\*)\s*号?\s*键?"), "*"),
    (re.compile(r"\bpress\s+([0-9])(?![0-9])", re.IGNORECASE), None),
    (re.compile(r"\bpress\s+(?:the\s+)?(?:hash|pound|#)(?:\s+key)?", re.IGNORECASE), "#"),
    (re.compile(r"\bpress\s+(?:the\s+)?(?:star|asterisk|\*)(?:\s+key)?", re.IGNORECASE), "*"),
)


def spoken_keys(text: str) -> dict[str, str]:
    """The keys ``text`` tells the caller to press → the words that name each."""
    found: dict[str, tuple[int, str]] = {}
    for pattern, key in _SPOKEN_KEYS:
        for match in pattern.finditer(text):
            said = match.group(1).lower() if key is None else ""
            named = key or _ZH_DIGITS.get(said) or _EN_DIGITS.get(said) or said
            if named not in found or match.start() < found[named][0]:
                found[named] = (match.start(), match.group(0))
    return {k: words for k, (_, words) in sorted(found.items(), key=lambda kv: kv[1][0])}


def check(flows: FlowSet) -> list[FlowError]:
    """A warning for each key a menu's prompt names but its choices lack, and for
    each choice that none of its prompts names (per language the flow speaks)."""
    return [
        warning
        for name, flow in flows.flows.items()
        for node_id, node in flow.nodes.items()
        if isinstance(node, MenuNode)
        for warning in _menu(flows, name, flow, node_id, node)
    ]


def _menu(
    flows: FlowSet, name: str, flow: Flow, node_id: str, node: MenuNode
) -> Iterator[FlowError]:
    # (prompt index, key) → the words that name it, and in which language's text
    lacking: dict[tuple[int, str], list[tuple[str, str]]] = {}
    unspoken: dict[str, list[str]] = {}
    for lang in flow.languages:
        said: set[str] = set()
        texts = 0
        for i, prompt in enumerate(node.prompts):
            text = _text(flows, lang, prompt)
            if text is None:
                continue
            texts += 1
            for key, words in spoken_keys(text).items():
                said.add(key)
                if key not in node.choices:
                    lacking.setdefault((i, key), []).append((words, lang))
        if texts:
            for key in node.choices:
                if key not in said:
                    unspoken.setdefault(key, []).append(lang)
    for (i, key), said_in in sorted(lacking.items()):
        prompt = node.prompts[i]
        says = ", ".join(f"{words!r} ({lang})" for words, lang in said_in)
        yield flows.error(
            name,
            ("nodes", node_id, "prompts", i),
            messages.text("menu_key_not_offered", prompt=prompt, says=says, key=key),
            messages.text(
                "add_choice",
                key=key,
                path=prompt_text_file(flows.prompts_dir, said_in[0][1], prompt),
            ),
            warning=True,
        )
    for key, langs in unspoken.items():
        yield flows.error(
            name,
            ("nodes", node_id, "choices", key),
            messages.text("choice_unspoken", key=key, languages=", ".join(langs)),
            messages.text("say_the_key"),
            warning=True,
        )


def _text(flows: FlowSet, lang: str, prompt: str) -> str | None:
    if media_scheme(prompt) is not None:
        return None
    try:
        return prompt_text_file(flows.prompts_dir, lang, prompt).read_text(
            encoding="utf-8", errors="replace"
        )
    except OSError:
        return None
