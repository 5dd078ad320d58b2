"""Cross-checks over a parsed FlowSet: what pydantic cannot see file by file.

Unknown node, flow and queue references; unreachable nodes; prompts missing
for a language; loops that never wait for the caller; subflow recursion; two
flows answering the same number. Every error names file:line:column.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

from callcenter.directory import Directory
from callcenter.ivr import menu_text, messages
from callcenter.ivr.flowset import FlowError, FlowSet, FlowSetInvalid, parse_flow_files
from callcenter.ivr.prompts import (
    MEDIA_SCHEMES,
    media_scheme,
    prompt_audio_file,
    prompt_text_file,
)
from callcenter.ivr.schema import (
    INPUT_NODES,
    Flow,
    HangupNode,
    QueueNode,
    ReturnNode,
    SetNode,
    SubflowNode,
    TransferNode,
    edges,
    prompt_fields,
)


def _close(word: str, choices: Iterable[str]) -> str:
    near = difflib.get_close_matches(word, list(choices), n=3)
    return messages.text("did_you_mean", names=", ".join(map(repr, near))) if near else ""


def check(
    flows: FlowSet, queues: Iterable[str], directory: Directory | None = None
) -> list[FlowError]:
    """Every cross-file error; transfer nodes against ``directory`` when given."""
    known_queues = set(queues)
    errors: list[FlowError] = []
    owners: dict[str, str] = {}
    for name, flow in flows.flows.items():
        errors += _references(flows, name, flow, known_queues)
        if directory is not None:
            errors += _transfers(flows, name, flow, directory)
        errors += _reachability(flows, name, flow)
        errors += _waitless_loops(flows, name, flow)
        errors += _prompts(flows, name, flow)
        for i, number in enumerate(flow.numbers):
            if number in owners:
                errors.append(
                    flows.error(
                        name,
                        ("numbers", i),
                        messages.text(
                            "number_taken",
                            number=number,
                            flow=owners[number],
                            path=flows.docs[owners[number]].path,
                        ),
                    )
                )
            owners[number] = name
    errors += _subflow_recursion(flows)
    return errors


def _references(flows: FlowSet, name: str, flow: Flow, queues: set[str]) -> list[FlowError]:
    errors = []
    for field, target in (("start", flow.start), ("resume", flow.resume)):
        if target is not None and target not in flow.nodes:
            errors.append(
                flows.error(
                    name,
                    (field,),
                    messages.text("unknown_node", target=target),
                    _close(target, flow.nodes),
                )
            )
    for node_id, node in flow.nodes.items():
        for field, target in edges(node):
            if target not in flow.nodes:
                loc = ("nodes", node_id, *field.split("."))
                errors.append(
                    flows.error(
                        name,
                        loc,
                        messages.text("unknown_node", target=target),
                        _close(target, flow.nodes)
                        or messages.text("nodes_of_flow", names=", ".join(flow.nodes)),
                    )
                )
        if isinstance(node, SubflowNode) and node.flow in flows.flows:
            lacking = [x for x in flow.languages if x not in flows.flows[node.flow].languages]
            if lacking:
                errors.append(
                    flows.error(
                        name,
                        ("nodes", node_id, "flow"),
                        messages.text(
                            "subflow_lacks_language", flow=node.flow, languages=", ".join(lacking)
                        ),
                        messages.text(
                            "add_languages", flow=node.flow, languages=", ".join(lacking)
                        ),
                    )
                )
        if isinstance(node, SubflowNode) and node.flow not in flows.flows:
            errors.append(
                flows.error(
                    name,
                    ("nodes", node_id, "flow"),
                    messages.text("unknown_flow", flow=node.flow),
                    _close(node.flow, flows.flows)
                    or messages.text("flows_are", names=", ".join(flows.flows)),
                )
            )
        if isinstance(node, QueueNode) and node.queue not in queues:
            errors.append(
                flows.error(
                    name,
                    ("nodes", node_id, "queue"),
                    messages.text("unknown_queue", queue=node.queue),
                    _close(node.queue, queues)
                    or messages.text("queues_are", names=", ".join(sorted(queues))),
                )
            )
        if isinstance(node, SetNode) and node.language and node.language not in flow.languages:
            errors.append(
                flows.error(
                    name,
                    ("nodes", node_id, "language"),
                    messages.text(
                        "set_language_not_listed", language=node.language, languages=flow.languages
                    ),
                    messages.text("add_language"),
                )
            )
    return errors


def _transfers(flows: FlowSet, name: str, flow: Flow, directory: Directory) -> list[FlowError]:
    """A transfer node may only send callers where the directory says (toll fraud)."""
    keys = [f"dept:{code}" for code in directory.entries]
    return [
        flows.error(
            name,
            ("nodes", node_id, "number"),
            messages.text(
                "not_in_directory",
                number=node.number,
                source=directory.source or messages.text("no_directory"),
            ),
            _close(node.number, [*keys, *directory.numbers()])
            or messages.text("name_a_department"),
        )
        for node_id, node in flow.nodes.items()
        if isinstance(node, TransferNode) and directory.department(node.number) is None
    ]


def _graph(flow: Flow) -> Mapping[str, list[str]]:
    return {nid: [t for _, t in edges(node) if t in flow.nodes] for nid, node in flow.nodes.items()}


def _reachability(flows: FlowSet, name: str, flow: Flow) -> list[FlowError]:
    if flow.start not in flow.nodes:
        return []
    graph, seen, todo = _graph(flow), {flow.start}, [flow.start]
    while todo:
        for nxt in graph[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return [
        flows.error(
            name,
            ("nodes", nid),
            messages.text("unreachable", node=nid, start=flow.start),
            messages.text("link_or_remove"),
        )
        for nid in flow.nodes
        if nid not in seen
    ]


def _waitless_loops(flows: FlowSet, name: str, flow: Flow) -> list[FlowError]:
    """Cycles made only of nodes that never wait for a key: the call would spin."""
    waits = _subflows_that_wait(flows)
    waiting = {nid for nid, node in flow.nodes.items() if _waits(node, waits)}
    graph = {
        nid: [t for t in ts if t not in waiting]
        for nid, ts in _graph(flow).items()
        if nid not in waiting
    }
    errors: list[FlowError] = []
    reported: set[str] = set()
    for cycle in _cycles(graph):
        if not reported.isdisjoint(cycle):
            continue
        reported |= set(cycle)
        path = " → ".join([*cycle, cycle[0]])
        errors.append(
            flows.error(
                name,
                ("nodes", cycle[0]),
                messages.text("waitless_loop", path=path),
                messages.text("break_loop"),
            )
        )
    return errors


def _waits(node: object, flows_that_wait: set[str]) -> bool:
    """Whether passing through ``node`` always waits for the caller."""
    if isinstance(node, INPUT_NODES):
        return True
    return isinstance(node, SubflowNode) and node.flow in flows_that_wait


def _subflows_that_wait(flows: FlowSet) -> set[str]:
    """The flows that, called as a subflow, wait for the caller on every path that
    returns: a branch that can skip the menu does not count, a nested subflow that
    always waits does. A least fixpoint, each round one graph walk per flow."""
    waiting: set[str] = set()
    while True:
        now = {name for name, flow in flows.flows.items() if _always_waits(flow, waiting)}
        if now == waiting:
            return waiting
        waiting = now


def _always_waits(flow: Flow, flows_that_wait: set[str]) -> bool:
    """No path from ``start`` back to the caller avoids every waiting node."""
    if flow.start not in flow.nodes:
        return True  # reported as an unknown start; not a loop as well
    graph, seen, todo = _graph(flow), {flow.start}, [flow.start]
    while todo:
        nid = todo.pop()
        node = flow.nodes[nid]
        if _waits(node, flows_that_wait):
            continue
        if _returns(node):
            return False
        for nxt in graph[nid]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return True


def _returns(node: object) -> bool:
    """A node after which the flow ends and, in a subflow, the caller goes on."""
    if isinstance(node, ReturnNode):
        return True
    return (
        hasattr(node, "next")
        and getattr(node, "next", None) is None
        and not isinstance(node, HangupNode)
    )


def _cycles(graph: Mapping[str, list[str]]) -> list[list[str]]:
    """One representative cycle per strongly connected component (Tarjan).

    Iterative (an explicit stack, no recursion): a valid chain of thousands of
    nodes must not exhaust Python's stack.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    for root in graph:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            v, i = work[-1]
            targets = graph.get(v, [])
            if i < len(targets):
                work[-1] = (v, i + 1)
                w = targets[i]
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, 0))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
            if low[v] == index[v]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == v:
                        break
                if len(component) > 1 or v in targets:
                    found.append(sorted(component, key=index.__getitem__))
    return found


def _prompts(flows: FlowSet, name: str, flow: Flow) -> list[FlowError]:
    """Each prompt a known media scheme, or a text in every language the flow speaks."""
    errors = []
    for node_id, node in flow.nodes.items():
        for field, prompts in prompt_fields(node):
            for i, prompt in enumerate(prompts):
                loc = ("nodes", node_id, field, i)
                scheme = media_scheme(prompt)
                if scheme is not None:
                    if scheme not in MEDIA_SCHEMES:
                        errors.append(
                            flows.error(
                                name,
                                loc,
                                messages.text("unknown_scheme", scheme=scheme, prompt=prompt),
                                messages.text("known_schemes", schemes=", ".join(MEDIA_SCHEMES)),
                            )
                        )
                    continue
                errors += _prompt_texts(flows, name, flow, loc, prompt)
    return errors


def _prompt_texts(
    flows: FlowSet, name: str, flow: Flow, loc: tuple[str | int, ...], prompt: str
) -> list[FlowError]:
    """The text is the source: audio alone cannot be regenerated when the voice changes."""
    root = flows.prompts_dir
    textless = [x for x in flow.languages if not prompt_text_file(root, x, prompt).exists()]
    audio_only = [x for x in textless if prompt_audio_file(root, x, prompt).exists()]
    missing = [x for x in textless if x not in audio_only]
    errors = []
    if missing:
        errors.append(
            flows.error(
                name,
                loc,
                messages.text("prompt_missing", prompt=prompt, languages=", ".join(missing)),
                messages.text("write_prompt", path=f"{root}/{missing[0]}/{prompt}.txt"),
            )
        )
    if audio_only:
        errors.append(
            flows.error(
                name,
                loc,
                messages.text("audio_only", prompt=prompt, languages=", ".join(audio_only)),
                messages.text(
                    "write_words", prompt=prompt, path=f"{root}/{audio_only[0]}/{prompt}.txt"
                ),
            )
        )
    for lang in flow.languages:
        if lang not in textless:
            problem = _text_problem(prompt_text_file(root, lang, prompt))
            if problem:
                errors.append(
                    flows.error(
                        name,
                        loc,
                        messages.text(problem, prompt=prompt, language=lang),
                        messages.text(
                            "save_prompt_text", path=prompt_text_file(root, lang, prompt)
                        ),
                    )
                )
    return errors


def _text_problem(path: Path) -> str | None:
    """What ``make prompts`` could not speak: not UTF-8, or no words."""
    try:
        words = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        return "prompt_text_not_utf8"
    except OSError:
        return None
    return None if words.strip() else "prompt_text_empty"


def _subflow_recursion(flows: FlowSet) -> list[FlowError]:
    calls = {
        name: [
            n.flow
            for n in flow.nodes.values()
            if isinstance(n, SubflowNode) and n.flow in flows.flows
        ]
        for name, flow in flows.flows.items()
    }
    errors = []
    for cycle in _cycles(calls):
        first = cycle[0]
        node_id = next(
            nid
            for nid, n in flows.flows[first].nodes.items()
            if isinstance(n, SubflowNode) and n.flow in cycle
        )
        errors.append(
            flows.error(
                first,
                ("nodes", node_id, "flow"),
                messages.text("subflow_circle", path=" → ".join([*cycle, cycle[0]])),
                messages.text("subflow_returns"),
            )
        )
    return errors


def load_flow_set(
    paths: Iterable[Path],
    prompts_dir: Path,
    queues: Iterable[str],
    directory: Directory | None = None,
) -> FlowSet:
    """Parse and check; raise FlowSetInvalid listing every error."""
    flows, errors = parse_flow_files(list(paths), prompts_dir)
    errors += check(flows, queues, directory)
    warnings = sorted(menu_text.check(flows), key=_by_position)
    if errors:
        raise FlowSetInvalid(_root_causes_first(flows, errors), warnings)
    return replace(flows, warnings=tuple(warnings))


def _root_causes_first(flows: FlowSet, errors: list[FlowError]) -> list[FlowError]:
    """Errors by position, but an "unknown flow" that names a flow which failed to load
    is folded (indented, marked) under that flow's own errors: the cause comes first."""
    failed = {e.path.stem: e.path for e in errors if e.path.stem not in flows.flows}
    follow_ons: dict[str, list[FlowError]] = {}
    direct: list[FlowError] = []
    refs = _subflow_refs(flows)
    for e in errors:
        target = refs.get((e.path, e.line, e.column))
        if target in failed and e.field.endswith(".flow"):
            hint = messages.text("follows_from", path=failed[target])
            follow_ons.setdefault(target, []).append(replace(e, hint=hint, follows=True))
        else:
            direct.append(e)
    direct.sort(key=_by_position)
    out: list[FlowError] = []
    for i, e in enumerate(direct):
        out.append(e)
        last_of_file = i + 1 == len(direct) or direct[i + 1].path != e.path
        if last_of_file and e.path.stem in follow_ons and failed.get(e.path.stem) == e.path:
            out += sorted(follow_ons.pop(e.path.stem), key=_by_position)
    return out + [e for fs in follow_ons.values() for e in fs]


def _subflow_refs(flows: FlowSet) -> dict[tuple[Path, int, int], str]:
    """Where each subflow node names its flow: (file, line, column) → the flow's name."""
    refs = {}
    for name, flow in flows.flows.items():
        for node_id, node in flow.nodes.items():
            if isinstance(node, SubflowNode):
                doc = flows.docs[name]
                refs[(doc.path, *doc.locate(("nodes", node_id, "flow")))] = node.flow
    return refs


def _by_position(error: FlowError) -> tuple[str, int, int]:
    return (str(error.path), error.line, error.column)
