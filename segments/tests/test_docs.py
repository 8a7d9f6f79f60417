"""docs/segments.md and docs/segment-definition.schema.json say what the validator does: every
example in the doc validates (or, when marked invalid, fails exactly as documented), the JSON
Schema accepts what the validator accepts and refuses what it refuses, and the starter templates
are documented as they are and measured by the benchmark."""

import importlib.util
import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from jsonschema import Draft202012Validator

from segments.domain.definition import DefinitionError, validate
from segments.domain.templates import STARTERS
from segments.tests.test_compiler import tree

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "segments.md").read_text()
SCHEMA = json.loads((ROOT / "docs" / "segment-definition.schema.json").read_text())
SCHEMA_VALIDATOR = Draft202012Validator(SCHEMA)
FENCE = re.compile(r"^```(json[^\n]*)\n(.*?)^```", re.S | re.M)


def examples(text: str = DOC) -> list[tuple[str, object]]:
    return [(info.strip(), json.loads(body)) for info, body in FENCE.findall(text)]


def as_definition(node: dict) -> dict:
    return {"version": 1, "root": {"id": "doc_root", "type": "group", "children": [node]}}


def schema_errors(definition) -> list[str]:
    return [error.message for error in SCHEMA_VALIDATOR.iter_errors(definition)]


def assert_valid(definition: dict) -> None:
    normalised = validate(definition)
    assert schema_errors(definition) == [], definition
    assert schema_errors(normalised) == [], normalised
    assert validate(normalised) == normalised


def test_the_schema_is_a_valid_json_schema():
    Draft202012Validator.check_schema(SCHEMA)


def test_the_doc_has_examples_of_every_node_type():
    found = set()
    for _, block in examples():
        definition = block.get("definition", block) if isinstance(block, dict) else None
        if isinstance(definition, dict) and "root" in definition:
            stack = [definition["root"]]
            while stack:
                node = stack.pop()
                found.add(node.get("type"))
                stack.extend(node.get("children", []))
        elif isinstance(definition, dict) and "type" in definition:
            found.add(definition["type"])
    assert found == {
        "group",
        "trait",
        "computed",
        "event",
        "sequence",
        "seen",
        "consent",
        "segment",
    }


def test_every_example_in_the_doc_validates_or_fails_as_documented():
    blocks = examples()
    assert len(blocks) >= 20
    checked = 0
    for index, (info, block) in enumerate(blocks):
        if info == "json invalid":
            with pytest.raises(DefinitionError) as caught:
                validate(block)
            assert schema_errors(block), "the JSON Schema accepts an invalid example"
            _, documented = blocks[index + 1]
            assert documented == {
                "error": {
                    "code": "invalid_definition",
                    "message": str(caught.value),
                    "details": {"node_id": caught.value.node_id, "message": caught.value.message},
                }
            }
        elif "root" in block:
            assert_valid(block)
        elif "definition" in block:  # a preview request
            assert_valid(block["definition"])
            assert set(block) <= {"definition", "sample"}
        elif "id" in block and "type" in block:  # one node
            assert_valid(as_definition(block))
        elif "error" in block:
            assert blocks[index - 1][0] == "json invalid", "an error example without its cause"
            continue
        elif "node_counts" in block:  # the preview's answer to the request just before it
            assert set(block) == {"count", "node_counts", "sample_ids", "query_ms"}
            request = blocks[index - 1][1]["definition"]
            ids = {request["root"]["id"]} | {n["id"] for n in request["root"]["children"]}
            assert set(block["node_counts"]) == ids
            assert block["node_counts"][request["root"]["id"]] == block["count"]
        else:
            pytest.fail(f"example {index} is of no known kind: {block}")
        checked += 1
    assert checked >= 20


def test_the_starter_templates_are_documented_as_they_are():
    section = DOC.split("## Starter templates", 1)[1].split("\n## ", 1)[0]
    documented = {
        part.split("\n", 1)[0].strip(): examples(part)[0][1] for part in section.split("### ")[1:]
    }
    for starter in STARTERS:
        assert documented[starter.name] == starter.definition, starter.name
        assert_valid(starter.definition)


def test_the_benchmark_measures_every_starter_template():
    spec = importlib.util.spec_from_file_location("bench_segments", ROOT / "bench" / "segments.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert set(bench.HAND_SQL) == {starter.key for starter in STARTERS}
    assert bench.starter_templates() == {s.key: (s.name, s.definition) for s in STARTERS}


@pytest.mark.parametrize(
    ("node", "node_id"),
    [
        ({"id": "x", "type": "mystery"}, "x"),
        ({"id": "x", "type": "trait", "trait": "plan", "operator": "like", "value": "a"}, "x"),
        ({"id": "x", "type": "trait", "trait": "age", "operator": "between", "value": [1]}, "x"),
        ({"id": "x", "type": "trait", "trait": "age", "operator": "gt", "value": "ten"}, "x"),
        ({"id": "x", "type": "trait", "trait": "plan", "operator": "equals"}, "x"),
        ({"id": "x", "type": "trait", "trait": "plan", "operator": "in", "value": []}, "x"),
        ({"id": "x", "type": "computed", "name": "ltv", "operator": "gt", "value": 1}, "x"),
        ({"id": "x", "type": "event", "event": "A", "window": {"kind": "last_days"}}, "x"),
        ({"id": "x", "type": "event", "event": "A", "count": {"operator": "ge", "value": 1}}, "x"),
        (
            {
                "id": "x",
                "type": "event",
                "event": "A",
                "aggregate": {"function": "median", "property": "p", "operator": "gt", "value": 1},
            },
            "x",
        ),
        ({"id": "x", "type": "sequence", "first": {"event": "A"}, "within_days": 1}, "x"),
        ({"id": "x", "type": "seen", "which": "last_seen", "operator": "before", "value": 3}, "x"),
        ({"id": "x", "type": "consent", "purpose": "email", "status": "maybe"}, "x"),
        ({"id": "x", "type": "segment", "segment": "12"}, "x"),
        ({"type": "trait", "trait": "plan", "operator": "is_set"}, None),
        ({"id": "x", "type": "group", "op": "xor", "children": []}, "x"),
    ],
)
def test_the_schema_refuses_what_the_validator_refuses(node, node_id):
    definition = as_definition(node)
    with pytest.raises(DefinitionError) as caught:
        validate(definition)
    assert caught.value.node_id == node_id
    assert schema_errors(definition)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(root=tree([1, 2]))
def test_the_schema_accepts_what_the_validator_accepts(root):
    if root["type"] != "group":
        root = {"id": "wrap", "type": "group", "op": "and", "children": [root]}
    assert_valid({"version": 1, "root": root})
