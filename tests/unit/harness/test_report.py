"""harness/report.py: the checks' table, the JSON report, the markdown and text tables."""

import json

from harness.report import (
    Check,
    as_json,
    cell,
    check_table,
    fault_errors,
    markdown_table,
    text_table,
    violation_lines,
    write_json,
)


def test_check_table_lines_up_names_counts_and_the_total():
    checks = [Check("short", 3, ["a"]), Check("a longer name", 10, ["b", "c"])]
    lines = check_table(checks)
    assert lines[0].split() == ["invariant", "checked", "violations"]
    assert lines[2].split() == ["short", "3", "1"]
    assert lines[3].split() == ["a", "longer", "name", "10", "2"]
    assert lines[-1].split() == ["total", "violations", "3"]
    assert len(lines[0]) == len(lines[1]) == len(lines[2]) == len(lines[3])  # as wide as the widest name


def test_violation_lines_show_a_few_and_count_the_rest():
    check = Check("c", 9, [f"v{i}" for i in range(7)])
    lines = violation_lines([check, Check("clean", 1)], examples=5)
    assert lines[:5] == [f"VIOLATION c: v{i}" for i in range(5)]
    assert lines[5:] == ["VIOLATION c: ... and 2 more"]


def test_fault_errors_is_a_check_with_each_error_a_violation():
    check = fault_errors(["kill_web: failed: OSError"])
    assert (check.name, check.checked, check.violations) == (
        "every fault injected and recovered",
        1,
        ["kill_web: failed: OSError"],
    )


def test_as_json_keeps_the_keys_and_turns_the_rest_into_text(tmp_path):
    doc = as_json([Check("c", 2, ["v"])], {"seconds": 1.5, "found": {"x"} and frozenset({"x"})})
    assert doc == {
        "checks": [{"name": "c", "checked": 2, "violations": ["v"]}],
        "summary": {"seconds": 1.5, "found": "frozenset({'x'})"},
    }
    path = tmp_path / "report.json"
    write_json(str(path), doc)
    assert json.loads(path.read_text()) == doc


def test_markdown_table_escapes_pipes_unless_told_not_to():
    assert markdown_table(("a", "b"), [("x|y", "1")]) == ["| a | b |", "|---|---|", "| x/y | 1 |"]
    assert markdown_table(("", ""), [("x|y", "1")], escape=False) == ["| | |", "|---|---|", "| x|y | 1 |"]


def test_text_table_pads_each_column_to_its_widest_cell():
    assert text_table(("a", "bb"), [("ccc", "d")]) == ["a    bb", "---  --", "ccc  d "]


def test_cell_separates_thousands_and_spells_out_a_dict():
    assert cell(12345) == "12,345"
    assert cell({"placed": 1200, "note": "x"}) == "placed 1,200, note x"
    assert cell("text") == "text"
