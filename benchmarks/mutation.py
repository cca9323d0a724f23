"""Mutation testing (`make mutate`): how many deliberate small bugs in the code where a wrong answer reaches users the tests catch.

    python benchmarks/mutation.py [--group NAME[,NAME...]] [--write-anyway] [--max-children N]

mutmut (pinned, configured in pyproject.toml [tool.mutmut]) copies pipeline/ to mutants/ with
every mutant of the configured files built in, behind a switch. GROUPS below names, per group, the
functions whose mutants count (mutmut mutant-name globs) and the tests that cover them. One `mutmut
run` takes the groups asked for (all by default; `make mutate GROUP=stock_gate` one), their tests
as the test selection: mutmut records which selected tests call each function and runs a mutant
against those tests alone, so a full run fits a session on 2 cores.

A mutant the tests do not catch is a survivor ("survived", or "no tests" where no selected test
calls the function in-process). One that changes nothing observable is named in
benchmarks/mutation_equivalent.toml with the reason; the report shows it next to the survivor. The
script exits 1 when a survivor has no reason (or its reason was written for another mutation),
and writes benchmarks/results/mutation.md and mutation.json only when every survivor has one,
unless --write-anyway, through benchmarks/publish.py (with the commit measured). A --group run
updates those groups' rows and keeps the others'. The hand-made mutants of
benchmarks/mutation_handmade.py (bugs mutmut does not make as such) are measured on every report,
and survivors without a reason are tested again at the checked-out code (--no-recheck: not).
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import os
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import mutation_handmade

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
EQUIVALENT_FILE = ROOT / "benchmarks" / "mutation_equivalent.toml"
SEP = "ǁ"  # mutmut's class separator in method mutant names: x<SEP>Class<SEP>method

# mutmut's statuses that mean the tests caught the mutant; every other one is a survivor
# ("not checked", "suspicious" and "skipped" too: nothing showed the mutant to be caught)
CAUGHT = ("killed", "timeout", "segfault", "caught by type check")
NOT_RUN = "not checked"  # an interrupted run's unfinished mutants: neither caught nor survivors
NO_COVERING_TEST = "Stopping early, because we could not find any test case"


@dataclass(frozen=True)
class Group:
    what: str
    functions: tuple[str, ...]  # mutmut mutant-name globs
    tests: tuple[str, ...]  # pytest paths or node ids that call these functions in-process


def _f(module: str, *names: str) -> tuple[str, ...]:
    return tuple(f"{module}.{name}__mutmut_*" for name in names)


# Tests that run the pipeline in a `python -m pipeline...` subprocess are left out: the subprocess
# does not report which functions it ran, so they would not count for any mutant anyway. Slow files
# are named by node id: only their tests that call the group's functions, so a full run fits a session.
GATES = ("tests/unit/test_gates.py",)
STOCK_FAST = ("tests/unit/test_stock_task.py", "tests/data/test_stock_csv.py", "tests/data/test_parser_properties.py")
BAD_INPUT = ("tests/data/test_bad_input_cli.py::test_bad_file_gives_its_exact_error",
             "tests/data/test_bad_input_cli.py::test_bad_params_stop_the_stage_with_the_key_named")
LOTTO_RNN = "tests/model/test_lotto_rnn.py::"
MNIST_AE = "tests/model/test_mnist_autoencoders.py::"
MNIST_SEED = "tests/model/test_mnist_seed_autoencoders.py::"
SIGNAL_DN = "tests/model/signals/test_signal_denoisers.py::"
GUARD = "tests/unit/signals/test_denoiser_guard.py::"

GROUPS: dict[str, Group] = {
    "stock_gate": Group("stock: model RMSE vs persistence", _f("pipeline.tasks.stock", "x_gate"), GATES),
    "lotto_gate": Group("lotto: significance vs chance and the frequency ticket", _f("pipeline.tasks.lotto", "x_gate"),
                        GATES),
    "mnist_gate": Group("mnist: autoencoders vs PCA, denoiser vs classical filters", _f("pipeline.tasks.mnist", "x_gate"),
                        GATES),
    "signal_gate": Group("signal denoisers: every group beats the best classical filter",
                         _f("pipeline.tasks.signals.scoring", "x_gate", "x_passes", "x_passes_at")
                         + _f("pipeline.tasks.signals", "x_gate"),
                         GATES + (GUARD + "test_a_group_passes_by_its_kinds_rule_at_the_gain_it_is_given",)),
    "register_decide": Group("registry: champion only for a passing model that beats the champion",
                             _f("pipeline.register", "x_decide"),
                             GATES + ("tests/unit/test_cli_and_tracking.py::"
                                      "test_gate_moves_champion_only_for_a_better_passing_model",)),
    "stock_split_scaling": Group("stock: windows, chronological split, scaler fitted on the training part",
                                 _f("pipeline.tasks.stock", "x_prepare", "x__subset", "x__tensors", "x_predict_close")
                                 + _f("pipeline.data.stock", "x_make_windows", f"x{SEP}Scaler{SEP}*")
                                 + _f("pipeline.tasks", "x_chronological_split"),
                                 STOCK_FAST),
    "lotto_decode": Group("lotto: model output -> nearest valid ticket", _f("pipeline.tasks.lotto", "x_decode"),
                          ("tests/unit/test_lotto_decode.py", LOTTO_RNN + "test_serve_answers_six_distinct_numbers")),
    # _col (a column's letter) and _show/_show_numbers only format the messages, which the exact-message
    # tests pin whole: the checks that decide whether a file is refused are what is mutated
    "stock_parser": Group("stock CSV reader: bad input named by file, line and column",
                          _f("pipeline.data.stock", "x_read_stock_csv", "x__price", "x__check_order",
                             "x__check_consistency"),
                          ("tests/data/test_stock_csv.py", "tests/data/test_parser_properties.py") + BAD_INPUT),
    "lotto_parser": Group("lotto xlsx reader: bad input named by row and column",
                          _f("pipeline.data.lotto", "x_read_lotto_xlsx", "x__read_sheet", "x__used_width",
                             "x__check_header", "x__parse_row", "x__int_cell", "x__date_cell", "x__check_sequence",
                             "x__expected_round"),
                          ("tests/data/test_lotto.py", "tests/data/test_parser_properties.py") + BAD_INPUT),
    "mnist_parser": Group("MNIST IDX reader: bad files named by file and problem",
                          _f("pipeline.data.mnist", "x_read_idx", "x_load_mnist", "x__read_bytes"),
                          ("tests/data/test_mnist.py",) + BAD_INPUT),
    "signal_short": Group("signal guard: signals too short to judge come back as they came; the sweep's cell rules",
                          _f("pipeline.tasks.signals.guard", "x_too_short")
                          + _f("pipeline.tasks.signals.sweep", "x__status", "x_sweep_cells", "x_sweep_metrics"),
                          ("tests/unit/signals/test_sweep.py",
                           "tests/model/signals/test_denoiser_guard_ood.py::"
                           "test_signals_too_short_for_the_guard_come_back_as_they_came",
                           "tests/model/signals/test_denoiser_guard_ood.py::"
                           "test_the_guard_judges_every_signal_from_its_shortest_length_on")),
    # the acceptance checks, not the whole guarded_denoise: a wrong check serves a wrong answer
    "signal_guard": Group("signal guard: acceptance checks, the blend check, the fallback filter",
                          _f("pipeline.tasks.signals.guard", "x__residual_off_glitches", "x_acceptable",
                             "x_fallback_candidates", "x_fallback_filter"),
                          ("tests/unit/signals/test_guard_checks.py", GUARD + "test_fallback_filter_does_no_harm",
                           GUARD + "test_fallback_keeps_jumps_at_low_noise",
                           GUARD + "test_fallback_removes_glitches_that_the_noise_estimate_ignores",
                           GUARD + "test_guard_accepts_an_answer_that_removed_dropouts_the_estimate_missed",
                           GUARD + "test_guard_keeps_a_good_answer_on_in_family_inputs",
                           GUARD + "test_guard_falls_back_when_the_model_hallucinates_its_training_family",
                           "tests/unit/signals/test_guard_speed_paths.py")),
    "request_limit": Group("serving: a request's values counted and refused over the limit, before any work",
                           _f("pipeline.serving", "x_request_values", f"x{SEP}PipelineModel{SEP}predict"),
                           ("tests/unit/test_serving_requests.py",)),
    "stock_serve": Group("stock serving: request validation", _f("pipeline.tasks.stock", "x_serve"),
                         ("tests/unit/test_stock_task.py",)),
    "lotto_serve": Group("lotto serving: request validation", _f("pipeline.tasks.lotto", "x_serve"),
                         (LOTTO_RNN + "test_serve_answers_six_distinct_numbers",
                          LOTTO_RNN + "test_serve_rejects_malformed_requests",
                          LOTTO_RNN + "test_serve_rejects_ragged_rows")),
    "mnist_serve": Group("mnist serving: request validation, standardised models, the decode param",
                         _f("pipeline.tasks.mnist.serving", "x__pixels", "x_serve", "x__codes", "x_decode_codes"),
                         (MNIST_AE + "test_serve_answers_in_pixels_in_the_layout_given",
                          MNIST_AE + "test_serve_takes_a_table_of_flat_rows",
                          MNIST_AE + "test_a_perfect_reconstruction_scores_zero_error",
                          MNIST_AE + "test_malformed_requests_are_payload_errors",
                          MNIST_AE + "test_decode_runs_the_decoder_alone",
                          MNIST_AE + "test_a_decode_request_turns_the_served_latents_back_into_the_served_reconstructions",
                          MNIST_AE + "test_malformed_decode_requests_are_payload_errors",
                          MNIST_AE + "test_a_network_without_a_decoder_refuses_a_decode_request",
                          MNIST_AE + "test_a_decode_request_takes_latents_as_a_table_or_as_json_numbers",
                          MNIST_AE + "test_a_latent_that_is_not_a_number_is_refused_even_among_numbers",
                          MNIST_SEED + "test_served_standardised_models_answer_the_requests_own_pixels",
                          MNIST_SEED + "test_serve_answers_pixels_in_the_requests_layout",
                          MNIST_SEED + "test_a_standardised_model_refuses_a_decode_request")),
    "signal_serve": Group("signal serving: request validation and the noise_sigma param",
                          _f("pipeline.tasks.signals.scoring", "x_serve", "x__given_noise_sigma")
                          + _f("pipeline.tasks.signals", "x_serve"),
                          (SIGNAL_DN + "test_serve_denoises_any_length_in_raw_units",
                           SIGNAL_DN + "test_seed_model_serves_only_its_training_length",
                           SIGNAL_DN + "test_serve_uses_a_given_noise_level_and_reports_it",
                           SIGNAL_DN + "test_serve_rejects_a_bad_noise_level_and_names_the_param",
                           SIGNAL_DN + "test_a_bad_noise_level_is_shown_in_a_message_of_at_most_200_characters",
                           SIGNAL_DN + "test_the_guard_reads_a_signal_at_float32_precision",
                           GUARD + "test_a_signals_answer_is_the_same_in_any_unit_and_with_any_offset",
                           SIGNAL_DN + "test_serve_rejects_malformed_requests_without_echoing_them",
                           GUARD + "test_serve_answers_the_denoised_signals_the_noise_level_and_the_path")),
}


def source_file(glob: str) -> str:
    """The source file of a mutant-name glob: pipeline.tasks.x_f__mutmut_* -> pipeline/tasks/__init__.py
    when that is a package, pipeline.data.stock.x_f__mutmut_* -> pipeline/data/stock.py."""
    module = glob.split(".x_")[0].split(f".x{SEP}")[0]
    path = Path(*module.split("."))
    return str(path / "__init__.py") if (ROOT / path).is_dir() else f"{path}.py"


def mutated_files() -> list[str]:
    return sorted({source_file(g) for group in GROUPS.values() for g in group.functions})


def selected_tests() -> list[str]:
    """Every group's tests: pyproject.toml's test selection for a plain `mutmut run`."""
    return sorted({t for group in GROUPS.values() for t in group.tests})


def group_mutants(group: Group, exit_codes: dict[str, int | None]) -> dict[str, int | None]:
    return {k: v for k, v in exit_codes.items() if any(fnmatch.fnmatchcase(k, g) for g in group.functions)}


def changed_lines(diff: str) -> str:
    """A unified diff as one line: the removed and added lines, stripped."""
    lines = [ln for ln in diff.splitlines() if ln[:1] in "-+" and not ln.startswith(("---", "+++"))]
    return " / ".join(f"{ln[0]} {ln[1:].strip()}" for ln in lines)


def load_equivalents(path: Path = EQUIVALENT_FILE) -> dict[str, dict]:
    """mutant name -> {"reason", "change"}: `change` is the mutation's changed_lines when reviewed, so
    a reason cannot carry over to another mutation that takes the same number after an edit."""
    if not path.exists():
        return {}
    table = tomllib.loads(path.read_text()).get("equivalent", {})
    for name, entry in table.items():
        if not (isinstance(entry, dict) and entry.get("reason", "").strip() and entry.get("change", "").strip()):
            raise SystemExit(f"{path.name}: {name} needs a non-empty reason and change")
    return table


def survivor_rows(groups: dict[str, dict], equivalents: dict[str, dict]) -> list[dict]:
    """One row per survivor: group, name, status, change, diff, reason (None: unexplained) and a note."""
    rows = []
    for gname, g in groups.items():
        for name, status in sorted(g["mutants"].items(), key=lambda kv: _natural(kv[0])):
            if status in CAUGHT or status == NOT_RUN:
                continue
            diff = g["diffs"].get(name, "")
            change, entry = changed_lines(diff), equivalents.get(name)
            reason, note = None, "no reason given"
            if entry and entry["change"].strip() == change:
                reason, note = entry["reason"].strip(), "equivalent"
            elif entry:
                note = "reason written for another mutation: " + entry["change"].strip()
            rows.append(dict(group=gname, name=name, status=status, change=change, diff=diff, reason=reason,
                             note=note))
    return rows


def stale_equivalents(groups: dict[str, dict], equivalents: dict[str, dict]) -> list[str]:
    """Listed mutants of a measured group that no longer survive (or exist): entries to review."""
    measured = {n: s for g in groups.values() for n, s in g["mutants"].items()}
    covered = lambda name: any(group_mutants(GROUPS[g], {name: None}) for g in groups if g in GROUPS)  # noqa: E731
    return sorted(n for n in equivalents if covered(n) and measured.get(n, "killed") in CAUGHT)


def _natural(name: str) -> tuple[str, int]:
    stem, _, number = name.rpartition("__mutmut_")
    return stem, int(number) if number.isdigit() else 0


def counts(mutants: dict[str, str]) -> dict[str, int]:
    statuses = list(mutants.values())
    return {"total": len(statuses), "killed": statuses.count("killed"), "timeout": statuses.count("timeout"),
            "survived": statuses.count("survived"), "no tests": statuses.count("no tests"),
            "not run": statuses.count(NOT_RUN),
            "other": sum(s not in ("killed", "timeout", "survived", "no tests", NOT_RUN) for s in statuses)}


def render_markdown(report: dict, equivalents: dict[str, dict]) -> str:
    groups = report["groups"]
    rows = survivor_rows(groups, equivalents)
    commits = sorted({g["commit"] for g in groups.values()})
    ran = "".join(f" Run at {r['commit']}: {', '.join(r['groups'])} in {r['wall_seconds']} s of wall time (mutant "
                  "generation, mutmut's test mapping and the mutants)." for r in report.get("runs", []))
    out = ["# Mutation testing (`make mutate`)", "",
           f"mutmut {report['mutmut']}, {report['cores']} CPU cores; commit measured: {', '.join(commits)}. "
           "One `mutmut run` covers the groups asked for, their tests as the selection; mutmut runs each "
           "mutant against the selected tests that call its function (benchmarks/mutation.py, GROUPS). "
           "`make mutate GROUP=name` reruns one group. A survivor is a mutant no test caught: `survived`, "
           "or `no tests` where no selected test calls the function in-process. Equivalent mutants (no "
           "observable change) carry their reason from benchmarks/mutation_equivalent.toml. "
           f"{report.get('workers', 1)} mutants run at a time.{ran}", "",
           "| group | what | mutants | killed | timeout | survived | no tests | other | not run | unexplained |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, g in groups.items():
        c = counts(g["mutants"])
        unexplained = sum(r["reason"] is None for r in rows if r["group"] == name)
        out.append(f"| {name} | {g['what']} | {c['total']} | {c['killed']} | {c['timeout']} | {c['survived']} | "
                   f"{c['no tests']} | {c['other']} | {c['not run']} | {unexplained} |")
    total = counts({n: s for g in groups.values() for n, s in g["mutants"].items()})
    out.append(f"| **all** | | {total['total']} | {total['killed']} | {total['timeout']} | {total['survived']} | "
               f"{total['no tests']} | {total['other']} | {total['not run']} | {sum(r['reason'] is None for r in rows)} |")
    again = [f"`{m}`" for g in groups.values() for m in g.get("rechecked", {}).get("killed", [])]
    if again:  # counted as killed above
        out += ["", "Killed on recheck (the run's survivors built into the code checked out at "
                f"{', '.join(sorted({g['rechecked']['commit'] for g in groups.values() if 'rechecked' in g}))} and "
                f"their group's tests run again): {', '.join(again)}."]
    out += ["", "## Survivors", ""]
    if not rows:
        out.append("None: the tests catch every mutant.")
    for name in groups:
        mine = [r for r in rows if r["group"] == name]
        if not mine:
            continue
        out += [f"### {name}", "", f"Tests: {', '.join(f'`{t}`' for t in groups[name]['tests'])}", ""]
        for r in mine:
            verdict = f"equivalent: {r['reason']}" if r["reason"] else f"**UNEXPLAINED** ({r['note']})"
            out += [f"- `{r['name']}` ({r['status']}): {verdict}", "", "  ```diff",
                    *(f"  {ln}" for ln in r["diff"].splitlines()), "  ```", ""]
    out += ["", *mutation_handmade.render(report.get("handmade", []))]
    stale = stale_equivalents(groups, equivalents)
    if stale:
        out += ["## Equivalent-list entries no longer surviving", "", *(f"- `{n}`" for n in stale), ""]
    return "\n".join(out).rstrip() + "\n"


# --- running mutmut ---------------------------------------------------------------------------


def _worker(tests: list[str], globs: list[str], max_children: int) -> None:
    """In a child process: `mutmut run globs` with `tests` as the test selection (mutmut reads the rest
    of its configuration from pyproject.toml)."""
    from mutmut import configuration

    configuration.config().pytest_add_cli_args_test_selection = list(tests)
    from mutmut.__main__ import cli

    cli(["run", "--max-children", str(max_children), *globs])


def _git_commit() -> str:
    head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "pipeline", "tests"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    return head.stdout.strip() + (" (with uncommitted changes)" if dirty else "")


def run_groups(names: list[str], max_children: int) -> tuple[dict[str, dict], float]:
    """One `mutmut run` of the named groups' functions with their tests as the test selection: mutmut
    finds which selected tests call each function and runs a mutant against those alone. Returns each
    group's results and the run's wall time."""
    groups = {n: GROUPS[n] for n in names}
    tests = sorted({t for g in groups.values() for t in g.tests})
    globs = [f for g in groups.values() for f in g.functions]
    missing = [t for t in tests if not (ROOT / t.split("::")[0]).exists()]
    if missing:
        raise SystemExit(f"no such test file(s) {missing}")
    print(f"mutmut run: {len(globs)} function glob(s) of {', '.join(names)}; tests {' '.join(tests)}", flush=True)
    log_file = ROOT / "mutants" / "mutation-run.log"  # mutmut's own output, as it runs
    log_file.parent.mkdir(exist_ok=True)
    start = time.monotonic()
    with log_file.open("w") as out:
        done = subprocess.run([sys.executable, __file__, "--worker", json.dumps([tests, globs]),
                               "--max-children", str(max_children)], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    seconds = time.monotonic() - start
    log = log_file.read_text(errors="replace")
    if done.returncode != 0 and NO_COVERING_TEST not in log:
        raise SystemExit(f"mutmut failed (exit {done.returncode}), see {log_file}:\n{log[-3000:]}")
    return collect(names, no_covering_test=done.returncode != 0), seconds


def collect(names: list[str], no_covering_test: bool = False) -> dict[str, dict]:
    """Each named group's results as mutmut's files under mutants/ hold them (also after an interrupted
    run: its unfinished mutants are "not checked")."""
    from mutmut.stats import status_by_exit_code

    groups = {n: GROUPS[n] for n in names}
    files = sorted({source_file(g) for group in groups.values() for g in group.functions})
    codes = _meta(files, "exit_code_by_key")
    commit, results = _git_commit(), {}
    for name, group in groups.items():
        mine = group_mutants(group, codes)
        if not mine:
            raise SystemExit(f"{name}: mutmut made no mutants of {group.functions}")
        if no_covering_test:
            mine = {k: 33 for k in mine}  # mutmut's "no tests": no selected test calls these functions
        mutants = {k: status_by_exit_code[v] for k, v in sorted(mine.items(), key=lambda kv: _natural(kv[0]))}
        diffs = {k: _diff(k, source_file(k)) for k, s in mutants.items() if s not in CAUGHT + (NOT_RUN,)}
        # no time per group: under process_isolation = "forkserver" mutmut records every mutant's duration as 0
        results[name] = dict(what=group.what, functions=list(group.functions), tests=list(group.tests),
                             commit=commit, mutants=mutants, diffs=diffs)
        print(f"   {name}: {counts(mutants)}", flush=True)
    return results


def _meta(files: list[str], field: str) -> dict:
    values = {}
    for f in files:
        meta = ROOT / "mutants" / f"{f}.meta"
        if meta.exists():
            values.update(json.loads(meta.read_text())[field])
    return values


def _diff(mutant: str, path: str) -> str:
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        return get_diff_for_mutant(mutant, path=path)
    finally:
        os.chdir(cwd)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--group", default="", help=f"comma-separated, of: {', '.join(GROUPS)} (default: all)")
    parser.add_argument("--write-anyway", action="store_true",
                        help="write the report even when a survivor has no reason (the exit status is still 1)")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--no-run", action="store_true",
                        help="report the results mutants/ holds (an interrupted run's too) without running mutmut")
    parser.add_argument("--no-recheck", action="store_true", help="leave the run's survivors as they are")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        tests, globs = json.loads(args.worker)
        _worker(tests, globs, args.max_children)
        return 0
    names = [n for n in args.group.replace(" ", ",").split(",") if n] or list(GROUPS)
    unknown = [n for n in names if n not in GROUPS]
    if unknown:
        parser.error(f"unknown group(s) {unknown}; groups: {', '.join(GROUPS)}")
    equivalents = load_equivalents()
    from importlib.metadata import version

    previous = json.loads((RESULTS / "mutation.json").read_text()) if (RESULTS / "mutation.json").exists() else {}
    groups = {n: g for n, g in previous.get("groups", {}).items() if n in GROUPS and n not in names}
    record = ROOT / "mutants" / "mutation-run.json"  # the run that left its results in mutants/
    if args.no_run:
        measured = collect(names)
        last = json.loads(record.read_text()) if record.exists() else None
        last = last if last and set(names) <= set(last["groups"]) else None  # a run that did not cover them: no time
    else:
        measured, seconds = run_groups(names, args.max_children)
        last = {"groups": names, "commit": _git_commit(), "wall_seconds": round(seconds)}
        record.write_text(json.dumps(last) + "\n")
        print(f"wall time {seconds:.0f} s")
    # the runs whose rows the report keeps: earlier runs for the groups not measured now, and this one
    runs = [r for r in previous.get("runs", []) if set(r["groups"]) & set(groups)] + ([last] if last else [])
    # survivors without a reason tested again at the code checked out now (tests written after the run)
    again = {n: [r["name"] for r in survivor_rows({n: g}, equivalents) if r["reason"] is None] for n, g in measured.items()}
    if any(again.values()) and not args.no_recheck:
        rechecked = mutation_handmade.recheck(again, {n: list(GROUPS[n].tests) for n in again})
        for n, g in measured.items():
            g["rechecked"] = {"commit": _git_commit(), "killed": [m for m in again[n] if rechecked[m] == "killed"]}
            g["mutants"].update({m: "killed" for m in g["rechecked"]["killed"]})
    handmade = mutation_handmade.measure()  # a minute: measured on every report, --no-run too
    groups.update(measured)
    not_run = sum(s == NOT_RUN for g in measured.values() for s in g["mutants"].values())
    report = {"mutmut": version("mutmut"), "cores": os.cpu_count(), "workers": args.max_children, "runs": runs,
              "groups": {n: groups[n] for n in GROUPS if n in groups}, "handmade": handmade}
    text = render_markdown(report, equivalents)
    unexplained = [r for r in survivor_rows(report["groups"], equivalents) if r["reason"] is None]
    alive = [r["name"] for r in handmade if r["status"] != "killed"]
    (ROOT / "mutants" / "mutation.md").write_text(text)
    if not unexplained or args.write_anyway:
        # imported here, not at the top: publish imports `pipeline`, and a `pipeline` already imported
        # in a mutmut worker would shadow the mutated copy mutmut puts first on sys.path
        from publish import publish

        publish(RESULTS, "mutation", report, text, quiet=True)
    where = "benchmarks/results/mutation.md" if not unexplained or args.write_anyway else "mutants/mutation.md"
    print(f"report: {where}; {len(unexplained)} survivor(s) without a reason")
    for r in unexplained:
        print(f"  {r['name']} ({r['status']}): {r['change']}")
    if alive:
        print(f"hand-made mutant(s) not killed: {', '.join(alive)}")
    if not_run:
        print(f"{not_run} mutant(s) not run (an interrupted run): the report is incomplete")
    return 1 if unexplained or not_run or alive else 0


if __name__ == "__main__":
    sys.exit(main())
