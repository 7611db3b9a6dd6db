"""The associations pass: after the objects exist, link them by the CRM ids the sync-state store holds."""

from __future__ import annotations

from collections.abc import Callable

from destination_crm.crms.base import CrmModule, Link
from destination_crm.quota import BudgetExhausted
from destination_crm.retry import RetryPolicy
from destination_crm.state_store import RunCounts, StateStore


def send_links(
    crm: CrmModule,
    store: StateStore,
    counts: RunCounts,
    *,
    policy: RetryPolicy,
    warn: Callable[[str], None],
) -> None:
    """Create every due pending link whose two ends the CRM holds, one stream pair and batch at a time.

    Only new or changed links are pending (the store compares them with the links already created),
    so an unchanged rerun makes no association call. A link whose other end is not in the CRM yet
    waits for a later run; a refused one is retried on the retry schedule, never dropped.
    """
    if not crm.writes_associations:
        return
    now = store.now
    while True:
        rows = store.resolvable_links(crm.target, now, crm.batch_cap)
        if not rows:
            return
        try:
            errors = crm.associate([resolved for resolved, _ in rows])
        except BudgetExhausted as spent:
            warn(f"associations left for the next run: {spent}")
            return
        created: list[Link] = []
        failed = []
        for (resolved, attempts), error in zip(rows, errors, strict=True):
            if error is None:
                created.append(resolved.link)
                continue
            failed.append((resolved.link, error, policy.link_retry(attempts, now)))
            link = resolved.link
            warn(
                f"association {link.from_stream} {link.from_external_id} -> {link.to_stream} "
                f"{link.to_external_id} (type {link.type_id}) failed: {error}"
            )
        counts.associations_created += len(created)
        counts.associations_failed += len(failed)
        store.links_done(crm.target, created, failed)
        if not created:
            return  # a whole batch refused: the CRM is likely down; a later run retries
