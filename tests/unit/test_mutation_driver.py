"""The mutation-testing driver's pure parts: its group table against pyproject.toml, the
equivalent-mutant list and the report (no mutmut run)."""
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import mutation  # noqa: E402
import mutation_handmade  # noqa: E402

DIFF = """--- pipeline/tasks/stock.py
+++ pipeline/tasks/stock.py
@@ -1,3 +1,3 @@
 def gate(metrics: dict) -> Verdict:
-    passed = model < baseline
+    passed = model <= baseline
     word = "beats" if passed else "loses to\""""
CHANGE = "- passed = model < baseline / + passed = model <= baseline"


def measured(**statuses):
    return {"stock_gate": {"what": "w", "functions": [], "tests": ["tests/x.py"], "commit": "abc",
                           "mutants": statuses, "diffs": {n: DIFF for n, s in statuses.items() if s != "killed"}}}


def test_pyproject_mutates_and_selects_exactly_the_groups_files_and_tests():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    assert config["only_mutate"] == mutation.mutated_files()
    assert config["pytest_add_cli_args_test_selection"] == mutation.selected_tests()


def test_every_group_names_existing_sources_and_in_process_tests_only():
    for name, group in mutation.GROUPS.items():
        assert group.functions and group.tests, name
        for glob in group.functions:
            assert glob.endswith("__mutmut_*") and (ROOT / mutation.source_file(glob)).is_file(), glob
        for test in group.tests:
            assert (ROOT / test.split("::")[0]).is_file() and not test.startswith("tests/e2e"), test


def test_source_file_of_functions_methods_and_package_modules():
    assert mutation.source_file("pipeline.tasks.stock.x_gate__mutmut_*") == "pipeline/tasks/stock/__init__.py"
    assert mutation.source_file("pipeline.tasks.signals.guard.x_acceptable__mutmut_1") == "pipeline/tasks/signals/guard.py"
    assert mutation.source_file("pipeline.data.stock.xǁScalerǁfit__mutmut_3") == "pipeline/data/stock.py"
    assert mutation.source_file("pipeline.tasks.x_chronological_split__mutmut_*") == "pipeline/tasks/__init__.py"


def test_group_globs_pick_their_functions_only():
    group = mutation.GROUPS["stock_split_scaling"]
    codes = {"pipeline.data.stock.xǁScalerǁfit__mutmut_1": 1, "pipeline.data.stock.x_make_windows__mutmut_2": 0,
             "pipeline.data.stock.x_read_stock_csv__mutmut_1": 0, "pipeline.tasks.stock.x_gate__mutmut_1": 0}
    assert set(mutation.group_mutants(group, codes)) == set(list(codes)[:2])


def test_changed_lines_is_the_removed_and_added_lines():
    assert mutation.changed_lines(DIFF) == CHANGE


def test_a_survivor_is_explained_only_by_a_reason_written_for_its_own_change():
    name = "pipeline.tasks.stock.x_gate__mutmut_1"
    groups = measured(**{name: "survived", "pipeline.tasks.stock.x_gate__mutmut_2": "killed"})
    [row] = mutation.survivor_rows(groups, {})
    assert row["reason"] is None and row["change"] == CHANGE
    [row] = mutation.survivor_rows(groups, {name: {"reason": "equal prices never occur", "change": CHANGE}})
    assert row["reason"] == "equal prices never occur"
    [row] = mutation.survivor_rows(groups, {name: {"reason": "r", "change": "- a / + b"}})
    assert row["reason"] is None and "another mutation" in row["note"]


def test_no_tests_counts_as_a_survivor_and_timeouts_as_caught():
    groups = measured(m__mutmut_1="no tests", m__mutmut_2="timeout", m__mutmut_3="killed")
    assert [r["name"] for r in mutation.survivor_rows(groups, {})] == ["m__mutmut_1"]


def test_report_counts_each_group_and_flags_the_unexplained(tmp_path):
    name = "pipeline.tasks.stock.x_gate__mutmut_1"
    report = {"mutmut": "3.8.1", "cores": 2, "groups": measured(**{name: "survived", "x__mutmut_2": "killed"})}
    text = mutation.render_markdown(report, {})
    assert "| stock_gate | w | 2 | 1 | 0 | 1 | 0 | 0 | 0 | 1 |" in text
    assert f"`{name}` (survived): **UNEXPLAINED**" in text and "+    passed = model <= baseline" in text
    text = mutation.render_markdown(report, {name: {"reason": "why", "change": CHANGE}})
    assert "equivalent: why" in text and "UNEXPLAINED" not in text
    stale = mutation.render_markdown(report, {"pipeline.tasks.stock.x_gate__mutmut_9": {"reason": "r", "change": "c"}})
    assert "no longer surviving" in stale and "x_gate__mutmut_9" in stale


def test_an_entry_without_reason_or_change_is_refused(tmp_path):
    path = tmp_path / "eq.toml"
    path.write_text('[equivalent]\n"a__mutmut_1" = {reason = "", change = "- x / + y"}\n')
    with pytest.raises(SystemExit, match="a__mutmut_1"):
        mutation.load_equivalents(path)
    path.write_text('[equivalent]\n"a__mutmut_1" = {reason = "why", change = "- x / + y"}\n')
    assert mutation.load_equivalents(path)["a__mutmut_1"]["reason"] == "why"


def test_the_committed_equivalent_list_loads():
    mutation.load_equivalents()


def test_every_hand_made_mutant_patches_one_place_and_names_an_existing_test():
    for mutant in mutation_handmade.HANDMADE:
        source = (ROOT / mutant.file).read_text()
        assert mutation_handmade.patched(source, mutant) != source, mutant.name
        path, _, test = mutant.test.partition("::")
        assert f"def {test}(" in (ROOT / path).read_text(), mutant.test


def test_a_hand_made_mutant_whose_text_is_not_there_once_is_refused():
    mutant = mutation_handmade.HANDMADE[0]
    with pytest.raises(SystemExit, match=mutant.name):
        mutation_handmade.patched("no such line", mutant)
    with pytest.raises(SystemExit, match="2 times"):
        mutation_handmade.patched(mutant.old + "\n" + mutant.old, mutant)


def test_report_lists_the_hand_made_mutants_with_their_status():
    row = {**mutation_handmade.asdict(mutation_handmade.HANDMADE[0]), "status": "survived"}
    report = {"mutmut": "3.8.1", "cores": 2, "groups": measured(x__mutmut_1="killed"), "handmade": [row]}
    text = mutation.render_markdown(report, {})
    assert f"| {row['name']} |" in text and f"`{row['test']}` | survived |" in text
