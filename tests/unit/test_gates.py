"""Every task's quality gate at its boundary (a model just better than its baseline passes, just worse
or equal fails), the verdict's score, score name and reason; and the registry's alias rule
(register.decide) on the verdicts these gates give."""
from __future__ import annotations

import pytest

from pipeline.register import CANDIDATE, CHAMPION, decide
from pipeline.tasks import lotto, mnist, stock
from pipeline.tasks.signals import scoring
from pipeline.tasks.signals.task import SignalsTask

# --- stock: test RMSE against persistence (lower is better) --------------------------------


def stock_metrics(model: float, persistence: float = 10.0) -> dict:
    return {"test_rmse": model, "baseline_persistence_test_rmse": persistence}


def test_stock_gate_passes_a_model_just_below_persistence():
    verdict = stock.gate(stock_metrics(9.99))
    assert verdict.passed
    assert verdict.score == 9.99 and verdict.score_name == "test_rmse"
    assert verdict.reason == "test RMSE $9.990 beats persistence $10.000 (0.999x)"


@pytest.mark.parametrize("model", [10.01, 10.0])  # just worse, and equal: no better than persistence
def test_stock_gate_fails_a_model_not_below_persistence(model):
    verdict = stock.gate(stock_metrics(model))
    assert not verdict.passed
    assert verdict.score == model and verdict.score_name == "test_rmse"
    assert verdict.reason == f"test RMSE ${model:.3f} loses to persistence $10.000 ({model / 10:.3f}x)"


# --- lotto: one-sided p-values against chance and the frequency ticket ----------------------


def lotto_metrics(p_chance: float, p_frequency: float) -> dict:
    return {"test_mean_matches": 0.9, "baseline_chance_test_mean_matches": 0.8,
            "baseline_frequency_test_mean_matches": 0.79, "test_p_vs_chance": p_chance,
            "test_p_vs_frequency": p_frequency, "test_draws": 174.0}


def test_lotto_gate_passes_only_below_alpha_against_both_baselines():
    just_below = lotto.ALPHA * 0.99
    verdict = lotto.gate(lotto_metrics(just_below, just_below))
    assert verdict.passed and verdict.reason.endswith(f"beats both at the {lotto.ALPHA:g} level")
    assert verdict.reason.startswith("mean matches per draw 0.900 vs chance 0.800 (one-sided p=0.00099) and the "
                                     "frequency ticket 0.790 (p=0.00099) over 174 draws")
    assert verdict.score == just_below and verdict.score_name == "test_p_vs_chance"
    for p_chance, p_frequency in [(lotto.ALPHA, just_below), (just_below, lotto.ALPHA),  # at alpha: not significant
                                  (lotto.ALPHA * 1.01, just_below), (just_below, lotto.ALPHA * 1.01)]:
        verdict = lotto.gate(lotto_metrics(p_chance, p_frequency))
        assert not verdict.passed, (p_chance, p_frequency)
        assert verdict.reason.endswith(f"not better than luck at the {lotto.ALPHA:g} level")
        assert verdict.score == p_chance and verdict.score_name == "test_p_vs_chance"
        assert f"p={p_chance:.3g}" in verdict.reason and f"p={p_frequency:.3g}" in verdict.reason


# --- mnist: autoencoders against PCA, the denoising AE against the best classical filter ----


def test_autoencoder_gate_compares_test_mse_with_pca_of_the_same_latent_size():
    pca = 0.02
    better = mnist.gate({"test_mse": 0.0199, "baseline_pca_test_mse": pca, "latent_size": 32.0})
    assert better.passed and better.score == 0.0199 and better.score_name == "test_mse"
    assert better.reason == "test MSE 0.01990 beats PCA with the same latent size 32 (0.02000; 0.99x)"
    for model in (0.0201, pca):  # just worse, and equal
        verdict = mnist.gate({"test_mse": model, "baseline_pca_test_mse": pca, "latent_size": 32.0})
        assert not verdict.passed and verdict.score == model and verdict.score_name == "test_mse"
        assert verdict.reason.startswith(f"test MSE {model:.5f} loses to PCA with the same latent size 32 ")


def denoising_metrics(gain: float, blur: float, median: float) -> dict:
    return {"test_mse": 0.015, "test_psnr_gain_db": gain, "baseline_gaussian_blur_test_psnr_gain_db": blur,
            "baseline_median_test_psnr_gain_db": median}


@pytest.mark.parametrize(("blur", "median", "best", "level"), [(4.0, 6.0, "median filter", 6.0),
                                                               (6.0, 4.0, "Gaussian blur", 6.0)])
def test_denoising_gate_compares_the_psnr_gain_with_the_better_classical_filter(blur, median, best, level):
    better = mnist.gate(denoising_metrics(level + 0.01, blur, median))
    assert better.passed and better.score == 0.015 and better.score_name == "test_mse"
    assert better.reason == f"test PSNR gain {level + 0.01:.2f} dB beats the best classical filter ({best}, {level:.2f} dB)"
    # just worse than the better filter (though above the other one), and equal to it
    for gain in (level - 0.01, level):
        verdict = mnist.gate(denoising_metrics(gain, blur, median))
        assert not verdict.passed and verdict.score == 0.015 and verdict.score_name == "test_mse"
        assert verdict.reason == f"test PSNR gain {gain:.2f} dB loses to the best classical filter ({best}, {level:.2f} dB)"


# --- signal denoisers (the seed and the improved model share the signals task's gate) ----------


def signal_metrics(**changed) -> dict:
    metrics = {"test_groups": 30.0, "test_groups_passing": 30.0, "test_snr_gain_db": 15.0,
               "test_min_margin_db_vs_best_classical": 0.01, "baseline_best_classical_test_snr_gain_db": 7.0,
               "test_held_out_groups": 8.0, "test_held_out_groups_passing": 8.0,
               "test_held_out_min_snr_gain_db": 0.0, "test_held_out_min_margin_db_vs_best_classical": -1.0}
    return {**metrics, **changed}


def test_a_trained_group_must_beat_the_best_classical_filter():
    row = {"held_out": False, "model": 7.01, "best_classical": 7.0, "margin_db": 0.01}
    assert scoring.passes(row)
    assert not scoring.passes({**row, "model": 6.99, "margin_db": -0.01})
    assert not scoring.passes({**row, "model": 7.0, "margin_db": 0.0})  # equal is not better


def test_a_held_out_group_must_do_no_harm_and_stay_within_tolerance_of_the_best_classical_filter():
    tolerance = scoring.HELD_OUT_TOLERANCE_DB
    row = {"held_out": True, "model": 5.0, "best_classical": 5.0 + tolerance, "margin_db": -tolerance}
    assert scoring.passes(row)  # exactly at the tolerance
    assert not scoring.passes({**row, "model": 4.99, "margin_db": -tolerance - 0.01})
    at_zero = {"held_out": True, "model": 0.0, "best_classical": 0.0, "margin_db": 0.0}
    assert scoring.passes(at_zero)  # exactly the input's quality: no harm
    assert not scoring.passes({**at_zero, "model": -0.01, "margin_db": -0.01})


def test_signal_gate_passes_only_when_every_group_passes():
    verdict = SignalsTask.gate(signal_metrics())
    assert verdict.passed and verdict.score == -15.0 and verdict.score_name == "neg_test_snr_gain_db"
    assert verdict.reason.startswith("beats the best classical filter on 30 of 30 family x noise groups "
                                     "(smallest margin +0.01 dB; mean gain 15.00 dB vs 7.00 dB)")
    assert "held-out kinds: 8 of 8 groups >= 0 dB and within 1 dB of the best classical filter" in verdict.reason
    one_trained = SignalsTask.gate(signal_metrics(test_groups_passing=29.0, test_min_margin_db_vs_best_classical=-0.01))
    assert not one_trained.passed and "29 of 30" in one_trained.reason and "-0.01 dB" in one_trained.reason
    one_held_out = SignalsTask.gate(signal_metrics(test_held_out_groups_passing=7.0, test_held_out_min_snr_gain_db=-0.01))
    assert not one_held_out.passed and "7 of 8 groups" in one_held_out.reason
    assert one_held_out.score == one_trained.score == -15.0
    no_held_out = {k: v for k, v in signal_metrics().items() if "held_out" not in k}
    # without held-out kinds the reason is the trained groups' sentence alone, nothing after it
    assert SignalsTask.gate(no_held_out).passed and SignalsTask.gate(no_held_out).reason == (
        "beats the best classical filter on 30 of 30 family x noise groups "
        "(smallest margin +0.01 dB; mean gain 15.00 dB vs 7.00 dB)")


def test_the_signal_task_serves_the_scoring_modules_gate():
    failing = signal_metrics(test_groups_passing=29.0)
    assert SignalsTask.gate(failing) == scoring.gate(failing)


# --- register.decide on real verdicts ------------------------------------------------------


def test_a_failed_gate_makes_a_candidate_whatever_the_champion():
    verdict = stock.gate(stock_metrics(10.5))
    for champion in (None, 20.0):
        alias, reason = decide(verdict, champion)
        assert alias == CANDIDATE and reason == f"gate failed: {verdict.reason}"


def test_a_passed_gate_without_a_champion_makes_the_champion():
    verdict = stock.gate(stock_metrics(9.5))
    assert decide(verdict, None) == (CHAMPION, f"gate passed: {verdict.reason}")


@pytest.mark.parametrize("champion", [9.5, 9.4])  # equal, and better: the champion stays
def test_a_passed_gate_not_better_than_the_champion_makes_a_candidate(champion):
    verdict = stock.gate(stock_metrics(9.5))
    alias, reason = decide(verdict, champion)
    assert alias == CANDIDATE
    assert reason == f"{verdict.reason}, but does not beat the champion's test_rmse {champion:.4g}"


def test_a_passed_gate_better_than_the_champion_makes_the_champion():
    verdict = stock.gate(stock_metrics(9.5))
    assert decide(verdict, 9.6) == (CHAMPION, f"gate passed: {verdict.reason}")


def test_decide_compares_negated_gains_so_a_larger_gain_wins():
    """The signal gate's score is -gain: a new version with a larger gain than the champion wins."""
    verdict = SignalsTask.gate(signal_metrics(test_snr_gain_db=15.0))
    assert decide(verdict, -14.9)[0] == CHAMPION
    assert decide(verdict, -15.1)[0] == CANDIDATE
    assert "does not beat the champion's neg_test_snr_gain_db -15.1" in decide(verdict, -15.1)[1]
