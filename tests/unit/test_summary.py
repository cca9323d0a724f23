"""The summary stage reads each model's headline table and the tables its task names, as data."""
import json

from pipeline import paths
from pipeline.io import write_json
from pipeline.plots import read_table, write_table
from pipeline.summary import headline_metrics, markdown, seed_pairs, summarize
from pipeline.tasks import headline_table
from pipeline.tasks import stock
from pipeline.tasks.signals.scoring import HEADLINE as SIGNAL_HEADLINE

STOCK = {"test_rmse": 12.829518801022422, "baseline_persistence_test_rmse": 12.570756422532762,
         "test_mae": 8.290295330589931, "baseline_persistence_test_mae": 8.20739944083225,
         "test_mape": 2.1151321878095874, "baseline_persistence_test_mape": 2.1151186350804587,
         # named like a baseline's figure, but no headline: the summary does not guess from names
         "baseline_persistence_val_rmse": 6.7}
SIGNAL = {"test_groups": 2.0, "test_groups_passing": 2.0, "test_min_margin_db_vs_best_classical": 0.5,
          "test_snr_gain_db": 12.5, "test_net_snr_gain_db": 11.0, "baseline_best_classical_test_snr_gain_db": 8.25,
          "baseline_savgol_test_snr_gain_db": 7.0, "test_worse_than_input_share": 0.01,
          "baseline_best_classical_test_worse_than_input_share": 0.02}
NOISE_LEVELS = [{"noise": "gaussian_sigma0.05", "kinds": "trained", "model": 9.1841, "net": 9.1, "best_classical": 7.3051,
                 "groups_passing": 2, "groups": 2}]


def workspace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name, metrics, figures in (("stock_rnn", STOCK, stock.HEADLINE), ("signal_denoiser", SIGNAL, SIGNAL_HEADLINE)):
        write_json(paths.eval_metrics(name), metrics)
        write_table(paths.eval_plots_dir(name) / "headline.csv", headline_table(metrics, figures))
    write_table(paths.eval_plots_dir("signal_denoiser") / "noise_levels.csv", NOISE_LEVELS)
    return {"train": {"stock_rnn": {}, "signal_denoiser": {}}}


def test_a_table_reads_back_with_the_values_written(tmp_path):
    # csv writes a float's repr: the summary's figures are the metrics' own, to the last digit
    rows = headline_table(STOCK, stock.HEADLINE)
    write_table(tmp_path / "t.csv", rows + [{"figure": "text", "model": "n/a"}])
    assert read_table(tmp_path / "t.csv") == rows + [{"figure": "text", "model": "n/a"}]


def test_summary_holds_each_headline_figure_beside_its_baselines_and_the_named_tables(tmp_path, monkeypatch):
    summary = json.loads(json.dumps(summarize(workspace(tmp_path, monkeypatch))))
    entry = summary["stock_rnn"]
    assert entry["figures"] == {f"test_{m}": {"model": STOCK[f"test_{m}"], "persistence": STOCK[f"baseline_persistence_test_{m}"]}
                                for m in ("rmse", "mae", "mape")}
    assert entry["passes_gate"] is False and entry["verdict"] == stock.gate(STOCK).reason
    assert entry["tables"] == {}
    signal = summary["signal_denoiser"]
    # held-out figures are absent from these metrics: their rows are left out, not blank
    assert signal["figures"] == {
        "test_snr_gain_db": {"model": 12.5, "net": 11.0, "best_classical": 8.25, "savgol": 7.0},
        "test_worse_than_input_share": {"model": 0.01, "best_classical": 0.02}}
    assert signal["passes_gate"] is True
    # the task's summary_tables columns of plots/<model>/noise_levels.csv, not the others ("net")
    assert signal["tables"] == {"noise_levels": [{"noise": "gaussian_sigma0.05", "kinds": "trained", "model": 9.1841,
                                                  "best_classical": 7.3051, "groups_passing": 2.0, "groups": 2.0}]}


def test_markdown_has_a_headline_table_per_model_and_the_named_tables(tmp_path, monkeypatch):
    lines = markdown(summarize(workspace(tmp_path, monkeypatch))).splitlines()
    at = lines.index("### stock_rnn")
    assert lines[at + 2:at + 5] == ["| figure | model | persistence |", "| --- | --- | --- |", "| test_rmse | 12.83 | 12.57 |"]
    at = lines.index("### signal_denoiser")
    assert lines[at + 2] == "| figure | model | net | best_classical | savgol |"
    assert lines[at + 5] == "| test_worse_than_input_share | 0.01 |  | 0.02 |  |"
    at = lines.index("noise_levels (plots/signal_denoiser/noise_levels.csv):")
    assert lines[at + 4] == "| gaussian_sigma0.05 | trained | 9.184 | 7.305 | 2 | 2 |"


def test_an_improved_model_is_shown_beside_its_notebook_variant(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    figure = {"figure_a": {"model": 0.25, "baseline": 0.5}, "figure_b": {"model": 1.0}}
    summary = {"ae": {"figures": figure}, "ae_seed": {"figures": {"figure_a": {"model": 0.75}}},
               "other": {"figures": figure}}
    for name, parameters, seconds in (("ae", 100, 2.5), ("ae_seed", 400, 9.0)):
        write_json(paths.train_metrics(name), {"n_parameters": parameters, "train_seconds": seconds})
    rows = seed_pairs(summary)
    assert rows == [{"model": "ae", "figure": "figure_a", "improved": 0.25, "improved_parameters": 100,
                     "improved_train_seconds": 2.5, "notebook": 0.75, "notebook_parameters": 400,
                     "notebook_train_seconds": 9.0}]
    lines = markdown({}, rows).splitlines()
    assert lines[lines.index("### The improved models beside the notebook's (`<model>_seed`)") + 4] == \
        "| ae | figure_a | 0.25 | 100 | 2.5 | 0.75 | 400 | 9 |"


def test_the_headline_metrics_hold_each_models_first_figure_and_its_gate(tmp_path, monkeypatch):
    summary = summarize(workspace(tmp_path, monkeypatch))
    assert headline_metrics(summary) == {"stock_rnn": {"test_rmse": STOCK["test_rmse"], "passes": False},
                                         "signal_denoiser": {"test_snr_gain_db": 12.5, "passes": True}}
