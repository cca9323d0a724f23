"""An evaluation a person can read: few metrics, a headline table; a run's data digest from the ingest summary."""
import hashlib

import pytest

from pipeline.errors import PipelineError
from pipeline.evaluate import check_layout
from pipeline.tasks import MAX_METRICS, Evaluation, headline_table
from pipeline.tracking import dataset_digest

HEADLINE = [{"figure": "test_rmse", "model": 1.0}]


def test_evaluate_refuses_more_metrics_than_a_file_should_hold_and_names_where_they_go():
    check_layout("m", Evaluation({f"k{i}": 0.0 for i in range(MAX_METRICS)}, {"headline": HEADLINE}))
    with pytest.raises(PipelineError, match=rf"evaluate m: {MAX_METRICS + 1} metrics, at most {MAX_METRICS}: .* table"):
        check_layout("m", Evaluation({f"k{i}": 0.0 for i in range(MAX_METRICS + 1)}, {"headline": HEADLINE}))
    with pytest.raises(PipelineError, match="no headline table"):
        check_layout("m", Evaluation({"test_rmse": 1.0}, {"predictions": HEADLINE}))


def test_headline_rows_keep_the_figures_whose_values_exist():
    figures = {"test_a": {"model": "test_a", "base": "baseline_base_test_a", "gone": "baseline_gone_test_a"},
               "test_held_out_a": {"model": "test_held_out_a"}}
    assert headline_table({"test_a": 1.5, "baseline_base_test_a": 2.5}, figures) == [
        {"figure": "test_a", "model": 1.5, "base": 2.5}]


def test_a_dataset_of_one_file_has_that_files_md5_and_of_several_one_digest_of_them_all():
    assert dataset_digest({"prices.npz": "e41fddb3f52411ba3a43d018aa78df91"}) == "e41fddb3f52411ba3a43d018aa78df91"
    files = {"signals_test.npz": "8383", "signals.npz": "122e"}
    assert dataset_digest(files) == hashlib.md5(b"signals.npz:122e,signals_test.npz:8383").hexdigest()
    assert dataset_digest(files) != dataset_digest({**files, "signals.npz": "122f"})
