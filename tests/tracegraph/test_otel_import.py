"""tracegraph.otel.import_spans on spans recorded by a real openai instrumentation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from optimizers import GraphOptimizer, ScriptedClient
from tests.tracegraph.otel_app import COMPLAINT, SYSTEM, TOOL_DESCRIPTION, otlp_json, record
from tracegraph.otel import SpanImportError, import_spans

pytest.importorskip("openinference.instrumentation.openai", reason="needs the [otel] extra")
pytest.importorskip("opentelemetry.exporter.otlp.proto.common", reason="needs the [otel] extra")


@pytest.fixture(scope="module")
def recorded() -> tuple[list[Any], list[str]]:
    return record(["What is an apple?"], ["LOOKUP apple", "An apple is a fruit."])


def _sources(spans: list[Any], tmp_path: Path) -> dict[str, Any]:
    lines = tmp_path / "traces.jsonl"  # the collector's file exporter: one document per line
    lines.write_text(json.dumps(otlp_json(spans)) + "\n", encoding="utf-8")
    base64_ids = tmp_path / "base64.json"
    base64_ids.write_text(json.dumps(otlp_json(spans, hex_ids=False)), encoding="utf-8")
    return {"sdk": spans, "jsonl": lines, "json-base64": base64_ids}


@pytest.mark.parametrize("form", ["sdk", "jsonl", "json-base64"])
def test_calls_prompts_and_feedback_come_from_the_spans(
    recorded: tuple[list[Any], list[str]], tmp_path: Path, form: str
) -> None:
    spans, _ = recorded
    imported = import_spans(_sources(spans, tmp_path)[form])
    assert sorted(imported.params) == ["lookup_description", "system_prompt"]
    assert imported.params["system_prompt"].value == SYSTEM
    assert imported.params["lookup_description"].value == TOOL_DESCRIPTION
    assert [str(u.name) for u in imported.uses["system_prompt"]] == ["ChatCompletion"] * 2
    names = sorted(u.name for u in imported.uses["lookup_description"])
    assert names == ["ChatCompletion", "ChatCompletion", "lookup"]
    # The real order: chat -> tool -> chat, the last chat is the trace's output.
    (out,) = imported.outputs
    assert out.op == "chat" and out.value == "An apple is a fruit."
    tool = dict(zip(out.arg_names, out.parents, strict=True))["previous"]
    assert tool.op == "tool_lookup" and tool.value == "the round fruit of a tree of the rose family"
    first = dict(zip(tool.arg_names, tool.parents, strict=True))["previous"]
    assert first.op == "chat" and first.value == "LOOKUP apple"
    # The feedback event on the request span reached both prompts through the last call.
    assert [fb.text for _, fb in imported.feedback] == [COMPLAINT]
    for name in ("system_prompt", "lookup_description"):
        assert [r.feedback.text for r in imported.params[name].received] == [COMPLAINT]


def test_an_optimizer_step_says_which_prompt_changed_and_where(
    recorded: tuple[list[Any], list[str]],
) -> None:
    spans, _ = recorded
    imported = import_spans(spans)
    better = SYSTEM + " Quote the definition exactly."
    reply = json.dumps({"reasoning": "quote it", "updates": {"system_prompt": better}})
    llm = ScriptedClient([reply])
    report = GraphOptimizer(imported.parameters(), llm=llm).step()
    asked = "\n".join(m["content"] for m in llm.requests[0]["messages"])
    assert COMPLAINT in asked and SYSTEM in asked and "LOOKUP apple" in asked
    (change,) = imported.changes(report)
    assert (change.param, change.old, change.new) == ("system_prompt", SYSTEM, better)
    assert [u.name for u in change.used_in] == ["ChatCompletion", "ChatCompletion"]
    assert "system_prompt" in str(change) and "ChatCompletion (trace" in str(change)


def test_feedback_given_by_trace_id_lands_on_that_trace() -> None:
    spans, traces = record(
        ["What is an apple?", "What is a pear?"],
        ["LOOKUP apple", "An apple is a fruit.", "LOOKUP pear", "No idea."],
    )
    roots = [s for s in spans if s.parent is None]
    bare = [s for s in spans if s not in roots]  # drop the request spans and their events
    imported = import_spans(bare, feedback={traces[1]: "wrong: pear is in no dictionary?"})
    assert [o.value for o in imported.outputs] == ["An apple is a fruit.", "No idea."]
    (received,) = imported.params["system_prompt"].received
    assert received.output is imported.outputs[1]
    with pytest.raises(SpanImportError, match="no span or trace"):
        import_spans(bare, feedback={"0" * 32: "x"})
