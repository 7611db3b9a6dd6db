"""Pairwise precision / recall / F1 of a clustering against ground truth; the scores backtest's metrics."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from store2crm.evaluate import (
    CustomerOutcome,
    EvalResult,
    PairwiseScores,
    ScoreBacktest,
    ScoreComparison,
    auc,
    compare_scores,
    format_scores_table,
    format_table,
    mean_absolute_error,
    pairwise_scores,
    root_mean_squared_error,
    total_bias,
)


def test_perfect_clustering_scores_one():
    truth = {"a": "p1", "b": "p1", "c": "p2"}
    scores = pairwise_scores(truth, {"a": "x", "b": "x", "c": "y"})
    assert (scores.true_pairs, scores.predicted_pairs, scores.correct_pairs) == (1, 1, 1)
    assert scores.precision == scores.recall == scores.f1 == 1.0


def test_false_merge_costs_precision_and_missed_merge_costs_recall():
    truth = {"a": "p1", "b": "p1", "c": "p1", "d": "p2"}
    merged = pairwise_scores(truth, {"a": "x", "b": "x", "c": "x", "d": "x"})
    assert (merged.true_pairs, merged.predicted_pairs, merged.correct_pairs) == (3, 6, 3)
    assert merged.precision == pytest.approx(0.5)
    assert merged.recall == 1.0
    split = pairwise_scores(truth, {"a": "x", "b": "x", "c": "y", "d": "z"})
    assert (split.precision, split.recall) == (1.0, pytest.approx(1 / 3))
    assert split.f1 == pytest.approx(0.5)


def test_records_missing_from_the_prediction_are_singletons():
    scores = pairwise_scores({"a": "p1", "b": "p1"}, {})
    assert (scores.predicted_pairs, scores.correct_pairs) == (0, 0)
    assert scores.precision == 1.0 and scores.recall == 0.0 and scores.f1 == 0.0


def test_targets_and_table():
    good = PairwiseScores(records=10, true_pairs=1000, predicted_pairs=1000, correct_pairs=996)
    weak = PairwiseScores(records=10, true_pairs=1000, predicted_pairs=1010, correct_pairs=1000)
    assert good.meets_targets()
    assert not weak.meets_targets()  # precision 0.990 < 0.995
    table = format_table([EvalResult(2000, good, 2000, 1.5), EvalResult(20000, weak, 20000, 9.0)])
    assert "0.9960" in table and "yes" in table and "NO" in table


# Scores backtest: AUC, error metrics and the comparison table -------------------------------------


def test_auc_is_the_share_of_positive_negative_pairs_ranked_right():
    assert auc([0.9, 0.8, 0.2, 0.1], [True, True, False, False]) == 1.0
    assert auc([0.1, 0.2, 0.8, 0.9], [True, True, False, False]) == 0.0
    # pairs (pos, neg): (0.8, 0.9) wrong, (0.8, 0.1) right, (0.3, 0.9) wrong, (0.3, 0.1) right
    assert auc([0.8, 0.3, 0.9, 0.1], [True, True, False, False]) == pytest.approx(0.5)
    assert auc([0.8, 0.7, 0.6, 0.1], [True, False, True, False]) == pytest.approx(0.75)


def test_auc_counts_ties_as_half_and_does_not_depend_on_input_order():
    assert auc([1, 1, 1, 1], [True, False, True, False]) == pytest.approx(0.5)
    # the positive at 2 ties one negative and beats the other: (0.5 + 1) / 2
    assert auc([2, 2, 1], [True, False, False]) == pytest.approx(0.75)
    assert auc([1, 2, 2], [False, False, True]) == pytest.approx(0.75)
    # any monotone transform of the scores (such as ranks) gives the same AUC
    scores, labels = [0.05, 0.4, 0.4, 0.7, 0.9, 0.2], [False, True, False, True, True, False]
    assert auc([s * 100 - 3 for s in scores], labels) == pytest.approx(auc(scores, labels))


def test_auc_needs_both_outcomes_and_one_label_per_score():
    with pytest.raises(ValueError, match="both outcomes"):
        auc([0.1, 0.2], [True, True])
    with pytest.raises(ValueError, match="labels"):
        auc([0.1, 0.2], [True])


def test_error_metrics():
    predicted, actual = [10.0, 0.0, 5.0], [0.0, 0.0, 8.0]
    assert mean_absolute_error(predicted, actual) == pytest.approx(13 / 3)
    assert root_mean_squared_error(predicted, actual) == pytest.approx(math.sqrt(109 / 3))
    assert total_bias(predicted, actual) == pytest.approx(15 / 8 - 1)
    assert mean_absolute_error(actual, actual) == root_mean_squared_error(actual, actual) == 0.0
    with pytest.raises(ValueError, match="no values"):
        mean_absolute_error([], [])
    with pytest.raises(ValueError, match="actual total is 0"):
        total_bias([1.0], [0.0])


def test_comparison_picks_the_better_side_per_goal():
    assert ScoreComparison("auc", 0.7, 0.6, "higher").winner == "model"
    assert ScoreComparison("mae", 12.0, 10.0, "lower").winner == "baseline"
    assert ScoreComparison("bias", -0.05, 0.2, "zero").winner == "model"
    assert ScoreComparison("bias", -0.3, 0.2, "zero").winner == "baseline"
    assert ScoreComparison("auc", 0.5, 0.5, "higher").winner == "tie"


def test_compare_scores_and_table():
    outcomes = [
        CustomerOutcome(0.9, 3, 120.0, 200.0, True, 100.0),
        CustomerOutcome(0.6, 2, 50.0, 0.0, False, 60.0),
        CustomerOutcome(0.2, 1, 10.0, 40.0, False, 0.0),
        CustomerOutcome(0.1, 1, 0.0, 0.0, True, 40.0),
    ]
    auc_row, mae_row, rmse_row, bias_row = compare_scores(outcomes, window_days=30, horizon_days=184)
    assert auc_row.metric == "next purchase AUC (30 d)"
    assert (auc_row.model, auc_row.baseline) == (pytest.approx(0.5), pytest.approx(0.625))
    assert auc_row.winner == "baseline"
    assert mae_row.metric == "CLV MAE (184 d)"
    assert (mae_row.model, mae_row.baseline) == (pytest.approx(20.0), pytest.approx(60.0))
    assert rmse_row.model == pytest.approx(math.sqrt((20**2 + 10**2 + 10**2 + 40**2) / 4))
    assert bias_row.model == pytest.approx(180 / 200 - 1) and bias_row.baseline == pytest.approx(240 / 200 - 1)
    result = ScoreBacktest(
        scale=100,
        as_of=dt.date(2026, 5, 1),
        window_days=30,
        horizon_days=184,
        history_days=184,
        customers=4,
        buyers_in_window=2,
        late_status_orders=1,
        comparisons=(auc_row, mae_row, rmse_row, bias_row),
        dbt_seconds=2.0,
    )
    table = format_scores_table(result)
    assert "as of 2026-05-01 (outcomes to 2026-11-01)" in table
    assert "next purchase AUC (30 d)" in table and "0.5000" in table and "0.6250" in table
    assert "-10.0%" in table and "+20.0%" in table
    assert "1 orders before the date" in table
