"""Change notes for values a platform sent unreadable (Destinations V2 `_airbyte_meta.changes` style)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from airbyte_cdk.models import AirbyteMessage, AirbyteRecordMessage, Type
from airbyte_cdk.models.airbyte_protocol import (  # the protocol models, re-exported by the CDK
    AirbyteRecordMessageMeta,
    AirbyteRecordMessageMetaChange,
    Change,
    Reason,
)

CHANGES_KEY = "_changes"
"""Key in a canonical record's `extra` listing the fields nulled because the native value was unreadable."""


def nulled(field: str) -> dict[str, str]:
    """The note for a field whose native value could not be read and was set to null."""
    return {"field": field, "change": "NULLED", "reason": "PLATFORM_SERIALIZATION_ERROR"}


def change_meta(record: Mapping[str, Any]) -> AirbyteRecordMessageMeta | None:
    """The `meta.changes` for a canonical record's `extra._changes` notes; None when it has none."""
    extra = record.get("extra")
    notes = extra.get(CHANGES_KEY) if isinstance(extra, Mapping) else None
    if not notes:
        return None
    return AirbyteRecordMessageMeta(
        changes=[
            AirbyteRecordMessageMetaChange(
                field=note["field"], change=Change.NULLED, reason=Reason.PLATFORM_SERIALIZATION_ERROR
            )
            for note in notes
        ]
    )


def record_message(stream: str, record: dict[str, Any], meta: AirbyteRecordMessageMeta) -> AirbyteMessage:
    """A RECORD message carrying `meta` (a bare record yielded by a stream cannot carry change notes)."""
    return AirbyteMessage(
        type=Type.RECORD,
        record=AirbyteRecordMessage(stream=stream, data=record, emitted_at=int(time.time() * 1000), meta=meta),
    )
