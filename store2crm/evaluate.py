"""Evaluation of identity resolution against the generator's ground truth (pairwise precision / recall / F1)."""

from __future__ import annotations

import argparse
import importlib.resources
import json
import os
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from store2crm.chain import DBT_PROJECT_DIR
from store2crm.raw_layer import RawLayer
from store2crm.sandbox.generator import Dataset, generate

EVAL_PLATFORM = "woocommerce"
EVAL_STORE_ID = "eval"
DEFAULT_SCALES = (2_000, 20_000)
DEFAULT_SEED = 42
# Share of planted duplicates that share no identifier with their person (same name and
# address, another mailbox, no phone), so probabilistic matching is measured too.
DEFAULT_UNLINKED_DUPLICATE_SHARE = 0.2
# Targets from issue 4.
TARGET_F1 = 0.99
TARGET_PRECISION = 0.995
IDENTITY_SELECTION = ("+identity_map", "+dim_customers")
EVALUATED_STREAMS = ("customers", "orders", "abandoned_checkouts")
RECORD_TYPES = {
    "customers": "customer",
    "orders": "order",
    "abandoned_checkouts": "abandoned_checkout",
    "events": "event",
}
RAW_STREAMS = ("customers", "orders", "abandoned_checkouts", "events", "products", "companies", "company_contacts")


@dataclass(frozen=True)
class PairwiseScores:
    """Pairwise clustering scores: a pair of records is positive when they are one person."""

    records: int
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int

    @property
    def precision(self) -> float:
        """Share of predicted same-person pairs that are truly one person (1.0 when none predicted)."""
        return self.correct_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        """Share of true same-person pairs that were predicted (1.0 when there are none)."""
        return self.correct_pairs / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0

    def meets_targets(self) -> bool:
        """Whether F1 and precision reach the issue's targets."""
        return self.f1 >= TARGET_F1 and self.precision >= TARGET_PRECISION


@dataclass(frozen=True)
class EvalResult:
    """Scores at one scale, with what was evaluated and how long the dbt build took."""

    scale: int
    scores: PairwiseScores
    people: int
    dbt_seconds: float


def _pairs(count: int) -> int:
    return count * (count - 1) // 2


def pairwise_scores(truth: Mapping[Any, str], predicted: Mapping[Any, str]) -> PairwiseScores:
    """Score a predicted clustering of the records in `truth` (record → true cluster).

    Records missing from `predicted` are singletons. Pairs are counted per cluster and per
    (true, predicted) cell, never materialised, so this is linear in the records.
    """
    cells: Counter[tuple[str, Any]] = Counter()
    true_sizes: Counter[str] = Counter()
    predicted_sizes: Counter[Any] = Counter()
    for record, true_cluster in truth.items():
        predicted_cluster = predicted.get(record, ("singleton", record))
        cells[true_cluster, predicted_cluster] += 1
        true_sizes[true_cluster] += 1
        predicted_sizes[predicted_cluster] += 1
    return PairwiseScores(
        records=len(truth),
        true_pairs=sum(_pairs(n) for n in true_sizes.values()),
        predicted_pairs=sum(_pairs(n) for n in predicted_sizes.values()),
        correct_pairs=sum(_pairs(n) for n in cells.values()),
    )


def _schemas() -> list[tuple[str, dict[str, Any]]]:
    folder = importlib.resources.files("source_store") / "schemas"
    return [(name, json.loads((folder / f"{name}.json").read_text())) for name in RAW_STREAMS]


def load_dataset(dataset: Dataset, warehouse: Path, *, extracted_at_ms: int | None = None) -> None:
    """Land every stream of a generated dataset in the warehouse's raw layer (one extraction)."""
    emitted = extracted_at_ms if extracted_at_ms is not None else int(dataset.now.timestamp() * 1000)
    with RawLayer(warehouse) as raw:
        raw.prepare(_schemas())
        for stream in RAW_STREAMS:
            for record in dataset.records(stream):
                raw.add_record(stream, {"platform": EVAL_PLATFORM, "store_id": EVAL_STORE_ID, **record}, emitted)
        raw.flush()


def predicted_persons(warehouse: Path) -> dict[tuple[str, str], str]:
    """(stream, native id) → person_id, read from the identity_map mart of a built warehouse."""
    streams = {record_type: stream for stream, record_type in RECORD_TYPES.items()}
    prefix = f"{EVAL_PLATFORM}:{EVAL_STORE_ID}:"
    with duckdb.connect(str(warehouse)) as db:
        schema = db.execute(
            "select table_schema from information_schema.tables where table_name = 'identity_map' limit 1"
        ).fetchone()
        if schema is None:
            raise RuntimeError("identity_map is not in the warehouse: the dbt build did not create it")
        rows = db.execute(f'select record_type, source_key, person_id from "{schema[0]}".identity_map').fetchall()
    return {
        (streams[record_type], source_key.removeprefix(prefix)): person_id
        for record_type, source_key, person_id in rows
    }


def build_identity_models(warehouse: Path, target_path: Path, *, with_tests: bool = True) -> None:
    """Build the identity models on `warehouse`: `dbt build` with their tests, else `dbt run`; raise on failure."""
    from dbt.cli.main import dbtRunner  # noqa: PLC0415 - importing dbt is slow; only this step needs it

    args = [
        "build" if with_tests else "run",
        "--quiet",
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(target_path / "target"),
        "--log-path",
        str(target_path / "logs"),
        "--select",
        *IDENTITY_SELECTION,
    ]
    if with_tests:
        # tests of unselected models (segments, CRM exports) stay out of an identity build
        args += ["--indirect-selection", "cautious"]
    previous = os.environ.get("STORE2CRM_WAREHOUSE")
    os.environ["STORE2CRM_WAREHOUSE"] = str(warehouse.resolve())
    try:
        result = dbtRunner().invoke(args)
    finally:
        if previous is None:
            os.environ.pop("STORE2CRM_WAREHOUSE", None)
        else:
            os.environ["STORE2CRM_WAREHOUSE"] = previous
    if not result.success:
        failed = [r.node.name for r in result.result or [] if str(r.status) in {"error", "fail"}]
        raise RuntimeError(f"dbt build of the identity models failed: {', '.join(failed) or result.exception}")


def evaluate_identity(
    scale: int,
    *,
    seed: int = DEFAULT_SEED,
    unlinked_duplicate_share: float = DEFAULT_UNLINKED_DUPLICATE_SHARE,
    streams: Iterable[str] = EVALUATED_STREAMS,
    with_tests: bool = True,
) -> EvalResult:
    """Generate a store of `scale` people, build the identity models with dbt, and score them."""
    dataset = generate(seed=seed, scale=scale, unlinked_duplicate_share=unlinked_duplicate_share)
    with tempfile.TemporaryDirectory(prefix="store2crm-eval-") as tmp:
        folder = Path(tmp)
        warehouse = folder / "warehouse.duckdb"
        load_dataset(dataset, warehouse)
        started = time.monotonic()
        build_identity_models(warehouse, folder, with_tests=with_tests)
        dbt_seconds = time.monotonic() - started
        predicted = predicted_persons(warehouse)
    wanted = set(streams)
    truth = {key: person for key, person in dataset.truth.items() if key[0] in wanted}
    return EvalResult(scale, pairwise_scores(truth, predicted), len(dataset.people), dbt_seconds)


def format_table(results: Iterable[EvalResult]) -> str:
    """A small fixed-width table of the results, one line per scale."""
    header = (
        f"{'people':>8} {'records':>9} {'true pairs':>11} {'precision':>10} {'recall':>8} {'F1':>8} {'dbt s':>7}  ok"
    )
    lines = [header, "-" * len(header)]
    for result in results:
        s = result.scores
        ok = "yes" if s.meets_targets() else "NO"
        lines.append(
            f"{result.people:>8} {s.records:>9} {s.true_pairs:>11} {s.precision:>10.4f} {s.recall:>8.4f}"
            f" {s.f1:>8.4f} {result.dbt_seconds:>7.1f}  {ok}"
        )
    lines.append(f"targets: F1 >= {TARGET_F1}, precision >= {TARGET_PRECISION}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """CLI: `python -m store2crm.evaluate identity [--scale N ...]`; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(
        prog="python -m store2crm.evaluate",
        description="Score identity resolution against generated ground truth. "
        "Example: python -m store2crm.evaluate identity --scale 2000 --scale 20000",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    identity = sub.add_parser("identity", help="pairwise precision / recall / F1 of identity resolution")
    identity.add_argument("--scale", type=int, action="append", help="true people (repeatable; default 2000 20000)")
    identity.add_argument("--seed", type=int, default=DEFAULT_SEED)
    identity.add_argument(
        "--unlinked-duplicate-share",
        type=float,
        default=DEFAULT_UNLINKED_DUPLICATE_SHARE,
        help="share of duplicates that share no identifier (exercise probabilistic matching)",
    )
    identity.add_argument("--with-events", action="store_true", help="also score behavioural events")
    args = parser.parse_args(argv)
    streams = (*EVALUATED_STREAMS, "events") if args.with_events else EVALUATED_STREAMS
    results = [
        evaluate_identity(
            scale, seed=args.seed, unlinked_duplicate_share=args.unlinked_duplicate_share, streams=streams
        )
        for scale in args.scale or DEFAULT_SCALES
    ]
    print(format_table(results))
    return 0 if all(r.scores.meets_targets() for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
