"""Every message the flow validator prints, in Chinese and English, from one table.

Ops staff choose the language (``ivr.messages_language`` in config/hotline.yaml,
``callcenter ivr validate --lang``); :func:`language` sets it for the messages
made inside it. Code outside any :func:`language` block gets English, the
language of the logs and of the tests' tables.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Literal

Language = Literal["zh", "en"]
LANGUAGES: tuple[Language, ...] = ("zh", "en")

_current: ContextVar[Language] = ContextVar("ivr_messages_language", default="en")

CATALOGUE: dict[str, dict[Language, str]] = {
    # --- how an error is printed (flowset.FlowError) -----------------------------------
    "hint_label": {"en": " (hint: {hint})", "zh": "（提示：{hint}）"},
    "warning_label": {"en": "warning: ", "zh": "警告："},
    # --- callcenter ivr validate's summary -----------------------------------------------
    "refused": {
        "en": "{count} error(s); nothing was changed",
        "zh": "{count} 个错误；没有做任何改动",
    },
    "valid": {
        "en": "OK: {count} flow(s), version {version}: {names}",
        "zh": "通过：{count} 个流程，版本 {version}：{names}",
    },
    "with_warnings": {"en": " ({count} warning(s))", "zh": "（{count} 个警告）"},
    # --- reading a file (callcenter/yamlfile.py) ---------------------------------------
    "cannot_read": {"en": "cannot read: {reason}", "zh": "无法读取：{reason}"},
    "too_large": {
        "en": "file is larger than {limit}; flow and config files are limited to {limit}",
        "zh": "文件超过 {limit}；流程和配置文件最大 {limit}",
    },
    "not_utf8": {
        "en": "not UTF-8 (byte {byte} here; GBK from a Chinese Windows editor?): "
        "save the file as UTF-8",
        "zh": "不是 UTF-8 编码（此行有字节 {byte}，可能是 Windows 中文编辑器保存的 GBK）："
        "请另存为 UTF-8",
    },
    "utf16": {
        "en": 'saved as UTF-16 (Windows "Unicode"), not UTF-8: save the file as UTF-8',
        "zh": "文件是 UTF-16 编码（Windows 的“Unicode”），不是 UTF-8：请另存为 UTF-8",
    },
    "control_char": {
        "en": "a control character {code} that YAML does not allow (pasted from another "
        "program?): delete it",
        "zh": "YAML 不允许的控制字符 {code}（从其他程序粘贴进来的？）：请删除它",
    },
    "binary": {
        "en": "not a text file (a NUL byte on this line): flows are YAML text",
        "zh": "不是文本文件（此行有 NUL 字节）：流程文件必须是 YAML 文本",
    },
    "empty": {
        "en": "the file is empty: a flow needs at least `start:` and `nodes:`",
        "zh": "文件为空：流程至少需要 `start:` 和 `nodes:`",
    },
    "too_deep": {
        "en": "nested more than {limit} levels deep; flows need far fewer",
        "zh": "嵌套超过 {limit} 层；流程远用不到这么深",
    },
    "too_many_values": {
        "en": "more than {limit} values in one file; split the flow into subflows",
        "zh": "一个文件中的值超过 {limit} 个；请把流程拆成子流程",
    },
    "alias_recursive": {
        "en": "alias *{name} refers to itself: write the values out instead",
        "zh": "别名 *{name} 引用了自身：请直接写出其值",
    },
    "alias_too_big": {
        "en": "aliases expand to more than {limit} values: write the values out instead",
        "zh": "别名展开后超过 {limit} 个值：请直接写出其值",
    },
    "duplicate_key": {
        "en": "duplicate key {key!r} (first at line {first})",
        "zh": "重复的键 {key!r}（第一次出现在第 {first} 行）",
    },
    "hash_key": {
        "en": "a menu key # must be quoted, or YAML reads the line as a comment and the menu "
        "loses it: quote the key: '#'",
        "zh": "菜单键 # 必须加引号，否则 YAML 把这一行当作注释、菜单会丢掉它：请写成 '#'",
    },
    "hash_terminator": {
        "en": "terminator: # is a comment to YAML, so the collect would have no terminator: "
        "quote it: '#'",
        "zh": "terminator: # 在 YAML 里是注释，collect 就没有结束键了：请写成 '#'",
    },
    "syntax": {"en": "YAML syntax error: {problem}", "zh": "YAML 语法错误：{problem}"},
    "bad_value": {
        "en": "bad value: invalid value {value!r}: {reason}",
        "zh": "无效的值 {value!r}：{reason}",
    },
    "hint_tab": {
        "en": "indent with spaces, not tabs",
        "zh": "请用空格缩进，不要用 Tab",
    },
    "hint_block_end": {
        "en": "check the indentation of this line against the one above",
        "zh": "请对照上一行检查这一行的缩进",
    },
    "hint_colon": {
        "en": "a value that contains ': ' must be quoted, e.g. \"a: b\"; "
        "or check this line's indentation",
        "zh": "含有 ': ' 的值必须加引号，如 \"a: b\"；或检查这一行的缩进",
    },
    "hint_quote": {
        "en": "a value starting with #, *, [, &, !, %, @ or ` must be quoted, e.g. '*'",
        "zh": "以 #、*、[、&、!、%、@ 或 ` 开头的值必须加引号，如 '*'",
    },
    "hint_comment_value": {
        "en": "a value starting with # is a comment to YAML, so the value is empty: "
        "quote it, e.g. '#'",
        "zh": "以 # 开头的值在 YAML 里是注释，值就成了空的：请加引号，如 '#'",
    },
    "hint_hash_in_brackets": {
        "en": "a # inside [ ] or {{ }} starts a comment and hides the rest of the line: "
        "quote it, e.g. ['#', '1']",
        "zh": "[ ] 或 {{ }} 里的 # 会开始注释、吞掉这一行的其余部分：请加引号，如 ['#', '1']",
    },
    "hint_unclosed": {
        "en": "close the list or mapping on the same line, or quote a value starting with [ or {{",
        "zh": "请在同一行闭合列表或映射，或给以 [ 或 {{ 开头的值加引号",
    },
    # --- loading the files together (callcenter/ivr/flowset.py) ------------------------
    "no_flow_files": {
        "en": "no flow files (*.yaml, *.yml) found",
        "zh": "没有找到流程文件（*.yaml、*.yml）",
    },
    "defined_twice": {
        "en": "flow {name!r} is defined twice: in {first} and in this file",
        "zh": "流程 {name!r} 定义了两次：{first} 和这个文件",
    },
    "one_file_per_flow": {
        "en": "one file per flow (its name is the file name without .yaml or .yml)",
        "zh": "一个流程一个文件（流程名即文件名，不含 .yaml/.yml）",
    },
    "hint_types": {"en": "type is one of {types}", "zh": "type 只能是 {types} 之一"},
    "hint_misspelt": {
        "en": "misspelt field? see ivr_flows/README.md for each node's fields",
        "zh": "字段名拼错了？各节点的字段见 ivr_flows/README.md",
    },
    "hint_node_ids": {
        "en": "node ids are letters, digits and _",
        "zh": "节点名只能由字母、数字和 _ 组成",
    },
    # --- the flow language (callcenter/ivr/schema.py) ----------------------------------
    "menu_keys": {
        "en": "menu keys must be single phone keys (0-9, *, #), not {keys}",
        "zh": "菜单键必须是单个电话按键（0-9、*、#），不能是 {keys}",
    },
    "min_over_max": {
        "en": "min_digits {min} is larger than max_digits {max}",
        "zh": "min_digits {min} 大于 max_digits {max}",
    },
    # --- cross-checks (callcenter/ivr/validate.py) -------------------------------------
    "did_you_mean": {"en": "did you mean {names}?", "zh": "是不是 {names}？"},
    "unknown_node": {"en": "unknown node {target!r}", "zh": "未知节点 {target!r}"},
    "nodes_of_flow": {"en": "nodes of this flow: {names}", "zh": "本流程的节点：{names}"},
    "unknown_flow": {"en": "unknown flow {flow!r}", "zh": "未知流程 {flow!r}"},
    "flows_are": {"en": "flows: {names}", "zh": "现有流程：{names}"},
    "unknown_queue": {"en": "unknown queue {queue!r}", "zh": "未知队列 {queue!r}"},
    "queues_are": {
        "en": "queues in config/queues.yaml: {names}",
        "zh": "config/queues.yaml 中的队列：{names}",
    },
    "subflow_lacks_language": {
        "en": "flow {flow!r} has no prompts for {languages}, which this flow may be speaking",
        "zh": "流程 {flow!r} 没有 {languages} 的提示音，而本流程可能使用这些语言",
    },
    "add_languages": {
        "en": "add {languages} to the languages of {flow!r}",
        "zh": "请把 {languages} 加入 {flow!r} 的 languages",
    },
    "set_language_not_listed": {
        "en": "language {language!r} is not in the flow's languages {languages}",
        "zh": "语言 {language!r} 不在本流程的 languages {languages} 中",
    },
    "add_language": {
        "en": "add it to `languages:` and record its prompts",
        "zh": "请把它加入 `languages:` 并录制其提示音",
    },
    "not_in_directory": {
        "en": "{number!r} is not in the department directory ({source})",
        "zh": "{number!r} 不在部门通讯录中（{source}）",
    },
    "no_directory": {"en": "none configured", "zh": "未配置"},
    "name_a_department": {
        "en": "name a department (dept:CODE or dept:CODE/duty) or add it to the directory",
        "zh": "请写部门（dept:代码 或 dept:代码/duty），或把号码加入通讯录",
    },
    "unreachable": {
        "en": "node {node!r} is unreachable from start {start!r}",
        "zh": "从起点 {start!r} 到不了节点 {node!r}",
    },
    "link_or_remove": {
        "en": "link it from another node or remove it",
        "zh": "请从其他节点链接到它，或删除它",
    },
    "waitless_loop": {
        "en": "loop that never waits for the caller: {path}",
        "zh": "循环中没有等待来电者按键的节点：{path}",
    },
    "break_loop": {
        "en": "put a menu or collect in the loop, or end it",
        "zh": "请在循环中加入 menu 或 collect，或结束循环",
    },
    "prompt_missing": {
        "en": "prompt {prompt!r} missing for {languages}",
        "zh": "提示音 {prompt!r} 缺少 {languages} 版本",
    },
    "write_prompt": {
        "en": "write {path} (audio is generated from it by `make prompts`)",
        "zh": "请编写 {path}（`make prompts` 会据此生成语音）",
    },
    "number_taken": {
        "en": "number {number} is already answered by flow {flow!r} in {path}",
        "zh": "号码 {number} 已由 {path} 中的流程 {flow!r} 接听",
    },
    "unknown_scheme": {
        "en": "unknown media scheme {scheme!r} in {prompt!r}",
        "zh": "未知的媒体类型 {scheme!r}（{prompt!r}）",
    },
    "known_schemes": {
        "en": "known schemes: {schemes}; a prompt name has no ':'",
        "zh": "已知的类型：{schemes}；录音提示名不含冒号",
    },
    "audio_only": {
        "en": "prompt {prompt!r} has audio but no text for {languages}: "
        "the audio cannot be regenerated",
        "zh": "提示音 {prompt!r} 在 {languages} 只有录音没有文本：无法重新生成录音",
    },
    "write_words": {
        "en": "write the words of {prompt}.wav into {path}",
        "zh": "把 {prompt}.wav 的内容写进 {path}",
    },
    "prompt_text_not_utf8": {
        "en": "the text of prompt {prompt!r} for {language} is not UTF-8 "
        "(GBK from a Chinese Windows editor?): its audio would be gibberish",
        "zh": "提示音 {prompt!r} 的 {language} 文本不是 UTF-8 编码"
        "（可能是 Windows 中文编辑器保存的 GBK）：生成的录音会是乱码",
    },
    "prompt_text_empty": {
        "en": "the text of prompt {prompt!r} for {language} is empty: its audio would be silence",
        "zh": "提示音 {prompt!r} 的 {language} 文本是空的：生成的录音没有声音",
    },
    "save_prompt_text": {
        "en": "write the words into {path}, saved as UTF-8",
        "zh": "把要说的话写进 {path}，存为 UTF-8",
    },
    # --- warnings: a menu's words and keys (callcenter/ivr/menu_text.py) --------------
    "menu_key_not_offered": {
        "en": "prompt {prompt!r} says {says} but the menu has no choice {key!r}",
        "zh": "提示音 {prompt!r} 说 {says}，但菜单没有选项 {key!r}",
    },
    "add_choice": {
        "en": 'add "{key}": NODE to choices, or change the words in {path}',
        "zh": '在 choices 里加上 "{key}": 节点，或修改 {path} 的文字',
    },
    "choice_unspoken": {
        "en": "choice {key!r} is never mentioned in the menu's prompts ({languages})",
        "zh": "菜单的提示音（{languages}）从未提到选项 {key!r}",
    },
    "say_the_key": {
        "en": "say it in the prompt's text, or callers will not know it is there",
        "zh": "请在提示音文本里说出这个键，否则来电者不知道有这个选项",
    },
    # --- ivr validate DIR (callcenter/cli/ivr.py) --------------------------------------
    "no_prompts_beside": {
        "en": "note: no prompts folder beside {flows}; prompts checked against {prompts}",
        "zh": "注意：{flows} 旁没有 prompts 文件夹；提示音按 {prompts} 检查",
    },
    "subflow_circle": {
        "en": "flows call each other in a circle: {path}",
        "zh": "流程之间循环调用：{path}",
    },
    "subflow_returns": {
        "en": "a subflow returns to its caller; use goto within a flow",
        "zh": "子流程结束后会返回调用方；流程内跳转请用 goto",
    },
    "follows_from": {
        "en": "follows from the error in {path} above",
        "zh": "由上面 {path} 中的错误引起",
    },
}


# pydantic's own messages, by error type: its English as it is, our Chinese
# (with pydantic's context filled in); a type not listed stays in English.
PYDANTIC_ZH: dict[str, str] = {
    "missing": "缺少必填字段",
    "extra_forbidden": "不允许的字段",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "int_from_float": "应为整数，不能有小数",
    "float_parsing": "应为数字",
    "float_type": "应为数字",
    "bool_parsing": "应为 true 或 false",
    "bool_type": "应为 true 或 false",
    "string_type": "应为文本",
    "list_type": "应为列表，如 [a, b]",
    "dict_type": "应为映射（键: 值）",
    "model_type": "应为映射（键: 值）",
    "model_attributes_type": "应为映射（键: 值）",
    "greater_than": "应大于 {gt}",
    "greater_than_equal": "应大于或等于 {ge}",
    "less_than": "应小于 {lt}",
    "less_than_equal": "应小于或等于 {le}",
    "too_short": "至少需要 {min_length} 项",
    "string_pattern_mismatch": "不符合格式 {pattern}",
    "literal_error": "应为 {expected}",
    "union_tag_invalid": "未知的类型 {tag!r}",
    "union_tag_not_found": "缺少 type 字段",
    "value_error": "{error}",
}


def pydantic_text(err: Mapping[str, Any]) -> str:
    """pydantic's message for ``err`` in the current language."""
    zh = PYDANTIC_ZH.get(str(err.get("type")))
    if _current.get() == "en" or zh is None:
        return str(err.get("msg", ""))
    try:
        return zh.format(**err.get("ctx", {}))
    except (KeyError, IndexError):
        return str(err.get("msg", ""))


def current() -> Language:
    return _current.get()


@contextmanager
def language(lang: Language) -> Iterator[None]:
    """Messages made inside are in ``lang``."""
    token = _current.set(lang)
    try:
        yield
    finally:
        _current.reset(token)


def text(key: str, /, **params: object) -> str:
    """The message ``key`` in the current language, with ``params`` filled in."""
    return CATALOGUE[key][_current.get()].format(**params)
