"""Pairwise precision / recall / F1 of a clustering against ground truth."""

from __future__ import annotations

import pytest

from store2crm.evaluate import EvalResult, PairwiseScores, format_table, pairwise_scores


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
