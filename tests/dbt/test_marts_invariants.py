"""Builds the dbt project on generated store data and checks the invariants of the marts.

Timeline (every source row of a person, once; an incremental run after new data equals a full
rebuild), segments (every member satisfies its rule, and the rules that can be checked both ways
miss nobody), segment history across two as-of dates, B2B rollups, reorder cycles and scores.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pendulum
import pytest
from raw_fixture import STREAMS, append_records, create_raw_layer
from test_dbt_project import assert_build_ok, query, run_dbt

from store2crm.sandbox.generator import Dataset, generate

pytestmark = pytest.mark.xdist_group("dbt")

NOW = pendulum.datetime(2026, 11, 1, tz="UTC")
FIRST_AS_OF = "2026-10-01"
AS_OF = "2026-11-01"


def _vars(as_of: str) -> list[str]:
    return ["--vars", f"{{as_of_date: '{as_of}'}}"]


def _load(warehouse: Path, dataset: Dataset, extracted_at: str) -> None:
    for stream in STREAMS:
        append_records(warehouse, stream, dataset.records(stream), extracted_at=extracted_at)


@pytest.fixture(scope="module")
def marts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, Dataset]]:
    """A warehouse built twice: as of FIRST_AS_OF (full), then as of AS_OF (incremental)."""
    tmp = tmp_path_factory.mktemp("dbt_marts")
    warehouse = tmp / "warehouse.duckdb"
    dataset = generate(seed=11, scale=400, now=NOW)
    create_raw_layer(warehouse)
    _load(warehouse, dataset, "2026-11-01T00:00:00Z")
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert_build_ok(run_dbt(["build", *_vars(FIRST_AS_OF)], warehouse, tmp, monkeypatch))
        assert_build_ok(run_dbt(["build", *_vars(AS_OF)], warehouse, tmp, monkeypatch))
    yield warehouse, tmp, dataset


def _scalar(warehouse: Path, sql: str) -> Any:
    return query(warehouse, sql)[0][0]


def test_timeline_holds_every_source_row_of_a_person_once(marts: tuple[Path, Path, Dataset]) -> None:
    warehouse, _, _ = marts
    expected = dict(
        query(
            warehouse,
            """
            select 'orders', count(*) from marts.orders where person_id is not null and ordered_at is not null
            union all
            select 'refunds', count(*) from intermediate.int_order_refunds_unnested as r
            join marts.orders as o using (order_key) where o.person_id is not null
            union all
            select 'abandoned_checkouts', count(*) from staging.stg_store__abandoned_checkouts as c
            join marts.identity_map as m on m.record_type = 'abandoned_checkout' and m.source_key = c.checkout_key
            union all
            select 'events', count(*) from staging.stg_store__events as e
            join marts.identity_map as m on m.record_type = 'event' and m.source_key = e.event_key
            """,
        )
    )
    actual = dict(query(warehouse, "select source_stream, count(*) from marts.customer_timeline group by 1"))
    assert actual == expected
    assert all(count > 0 for count in expected.values())
    communication = query(
        warehouse,
        "select distinct event_type from marts.customer_timeline where event_category = 'communication' order by 1",
    )
    assert {row[0] for row in communication} <= {"email_open", "email_click", "sms_reply", "ticket_opened"}
    assert len(communication) >= 3


def test_incremental_timeline_equals_a_full_rebuild(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    warehouse = tmp_path / "timeline.duckdb"
    dataset = generate(seed=5, scale=150, now=NOW)
    create_raw_layer(warehouse)
    _load(warehouse, dataset, "2026-11-01T00:00:00Z")
    timeline = ["--select", "+customer_timeline", *_vars(AS_OF)]
    assert_build_ok(run_dbt(["run", *timeline], warehouse, tmp_path, monkeypatch))
    before = _scalar(warehouse, "select count(*) from marts.customer_timeline")
    # store-side changes (new orders, refunds, cancellations, profile edits) land as a second extraction
    changed = dataset.mutate(count=40, now=NOW.add(days=2))
    for stream in sorted({stream for stream, _ in changed}):
        ids = {record_id for s, record_id in changed if s == stream}
        records = [r for r in dataset.records(stream) if r["id"] in ids]
        append_records(warehouse, stream, records, extracted_at="2026-11-03T00:00:00Z")
    assert_build_ok(run_dbt(["run", *timeline], warehouse, tmp_path, monkeypatch))
    columns = "timeline_event_key, person_id, event_type, event_status, amount, occurred_at, source_updated_at"
    incremental = set(query(warehouse, f"select {columns} from marts.customer_timeline"))
    assert len(incremental) > before
    assert_build_ok(run_dbt(["run", "--full-refresh", *timeline], warehouse, tmp_path, monkeypatch))
    rebuilt = set(query(warehouse, f"select {columns} from marts.customer_timeline"))
    assert incremental == rebuilt


def test_every_segment_member_satisfies_its_rule(marts: tuple[Path, Path, Dataset]) -> None:
    warehouse, _, _ = marts
    as_of = f"timestamptz '{AS_OF} 00:00:00+00'"
    violations = {
        "loyal": f"""
            select s.person_id from marts.segment_memberships s
            where s.segment_name = 'loyal' and (
                select count(*) from marts.orders o
                where o.person_id = s.person_id and o.is_valid and o.ordered_at < {as_of}) < 3""",
        "new": f"""
            select s.person_id from marts.segment_memberships s
            where s.segment_name = 'new' and (
                select min(ordered_at) from marts.orders o
                where o.person_id = s.person_id and o.is_valid) < {as_of} - interval 30 day""",
        "vip": """
            select s.person_id from marts.segment_memberships s
            join marts.rfm_scores r using (person_id)
            where s.segment_name = 'vip'
              and (select count(*) from marts.rfm_scores x where x.total_revenue > r.total_revenue)
                  >= 0.1 * (select count(*) - 1 from marts.rfm_scores)""",
        "at_risk": """
            select s.person_id from marts.segment_memberships s join marts.rfm_scores r using (person_id)
            where s.segment_name = 'at_risk' and not (r.recency_score <= 2 and r.frequency_score >= 3)""",
        "win_back": """
            select s.person_id from marts.segment_memberships s join marts.rfm_scores r using (person_id)
            where s.segment_name = 'win_back' and not (r.recency_score = 1 and r.frequency_score <= 2)""",
        "cart_abandoner": f"""
            select s.person_id from marts.segment_memberships s
            where s.segment_name = 'cart_abandoner' and not exists (
                select 1 from staging.stg_store__abandoned_checkouts c
                join marts.identity_map m on m.record_type = 'abandoned_checkout' and m.source_key = c.checkout_key
                where m.person_id = s.person_id and c.total > 150
                  and c.created_at between {as_of} - interval 30 day and {as_of}
                  and (c.completed_at is null or c.completed_at >= {as_of})
                  and not exists (
                      select 1 from marts.orders o where o.person_id = s.person_id and o.is_valid
                        and o.ordered_at >= c.created_at and o.ordered_at < {as_of}))""",
        "b2b_buyer": f"""
            select s.person_id from marts.segment_memberships s
            where s.segment_name = 'b2b_buyer'
              and not exists (
                select 1 from marts.orders o where o.person_id = s.person_id and o.is_valid
                  and o.company_key is not null and o.ordered_at < {as_of})
              and not exists (
                select 1 from marts.company_buyers b where b.person_id = s.person_id
                  and b.contact_roles like '%buyer%')""",
    }
    for segment, sql in violations.items():
        assert query(warehouse, sql) == [], segment
    counts = dict(query(warehouse, "select segment_name, count(*) from marts.segment_memberships group by 1"))
    assert set(counts) == set(violations), counts
    # the rules that do not rank people are checked the other way too: nobody who qualifies is missed
    missed_loyal = f"""
        select person_id from marts.orders where is_valid and person_id is not null and ordered_at < {as_of}
        group by person_id having count(*) >= 3
        except select person_id from marts.segment_memberships where segment_name = 'loyal'"""
    assert query(warehouse, missed_loyal) == []
    top_decile = _scalar(warehouse, "select count(*) from marts.rfm_scores where total_revenue > 0")
    assert abs(counts["vip"] - top_decile / 10) <= 2


def test_history_records_entries_and_exits_between_two_dates(marts: tuple[Path, Path, Dataset]) -> None:
    warehouse, _, _ = marts
    # open periods are exactly the current memberships
    open_periods = set(
        query(warehouse, "select person_id, segment_name from marts.segment_membership_history where is_active")
    )
    current = set(query(warehouse, "select person_id, segment_name from marts.segment_memberships"))
    assert open_periods == current
    exits = query(
        warehouse,
        "select distinct exited_at from marts.segment_membership_history where exited_at is not null",
    )
    assert [str(row[0])[:10] for row in exits] == [AS_OF]  # people left `new` a month later, at least
    assert _scalar(warehouse, "select count(*) from marts.segment_membership_history where entered_at > exited_at") == 0
    # the CRM export holds the periods of CRM contacts only
    crm = _scalar(warehouse, "select count(*) from crm.crm_segment_memberships")
    of_contacts = _scalar(
        warehouse,
        "select count(*) from marts.segment_membership_history as h"
        " join crm.crm_contacts as c on c.external_id = h.person_id",
    )
    assert crm == of_contacts > 0


def test_company_rollups_add_up_at_every_level(marts: tuple[Path, Path, Dataset]) -> None:
    warehouse, _, _ = marts
    # each rollup = own figures + the rollups of the direct subsidiaries
    mismatches = query(
        warehouse,
        """
        select p.company_key
        from marts.company_hierarchy p
        left join marts.company_hierarchy c on c.parent_company_key = p.company_key
        group by p.company_key, p.total_revenue, p.rollup_total_revenue, p.count_orders, p.rollup_count_orders
        having p.rollup_total_revenue != p.total_revenue + coalesce(sum(c.rollup_total_revenue), 0)
            or p.rollup_count_orders != p.count_orders + coalesce(sum(c.rollup_count_orders), 0)
        """,
    )
    assert mismatches == []
    roots, everything, revenue_of_company_orders = query(
        warehouse,
        """
        select
            (select sum(rollup_total_revenue) from marts.company_hierarchy where is_root),
            (select sum(total_revenue) from marts.company_hierarchy),
            (select sum(net_revenue) from marts.orders where company_key in (select company_key from marts.companies))
        """,
    )[0]
    assert roots == everything == revenue_of_company_orders
    assert _scalar(warehouse, "select count(*) from marts.company_hierarchy where hierarchy_depth > 0") > 0
    # buyers: the company's own buyers are the company_buyers rows of that company
    assert (
        query(
            warehouse,
            """
        select h.company_key from marts.company_hierarchy h
        left join marts.company_buyers b using (company_key)
        group by h.company_key, h.count_buyers having h.count_buyers != count(b.person_id)
        """,
        )
        == []
    )


def test_reorder_cycles_follow_their_interval(marts: tuple[Path, Path, Dataset]) -> None:
    warehouse, _, _ = marts
    bad = query(
        warehouse,
        """
        select reorder_cycle_key from marts.reorder_cycles
        where (typical_interval_days is null) != (count_orders < 3)
           or next_expected_order_at != last_ordered_at + typical_interval_days * interval 1 day
           or (is_reorder_window_open and typical_interval_days is null)
        """,
    )
    assert bad == []
    assert _scalar(warehouse, "select count(*) from marts.reorder_cycles") > 0


def test_scores_are_probabilities_and_rank_buyers_sensibly(marts: tuple[Path, Path, Dataset]) -> None:
    warehouse, _, _ = marts
    summary = query(
        warehouse,
        """
        select min(probability_alive), max(probability_alive), min(next_purchase_probability),
               max(next_purchase_probability), min(predicted_clv), count(*),
               (select count(*) from marts.rfm_scores)
        from marts.customer_scores
        """,
    )[0]
    low_alive, high_alive, low_next, high_next, low_clv, count, customers = summary
    assert 0 < low_alive <= high_alive <= 1
    assert 0 <= low_next <= high_next <= 1
    assert low_clv >= 0
    assert count == customers > 0
    by_frequency = query(
        warehouse,
        """
        select count_repeat_orders > 0, avg(next_purchase_probability), avg(predicted_clv)
        from marts.customer_scores group by 1 order by 1
        """,
    )
    (_, once_next, once_clv), (_, repeat_next, repeat_clv) = by_frequency
    assert repeat_next > once_next
    assert repeat_clv > once_clv
    # scores are as of the date: nothing after it counts
    assert _scalar(warehouse, "select count(distinct as_of_at) from marts.customer_scores") == 1
    assert str(_scalar(warehouse, "select max(as_of_at) from marts.customer_scores"))[:10] == AS_OF
