"""Salesforce record writes: field checks, lookups by id or external id, upsert matching, locks and timestamps."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from store2crm.sandbox.crm_emulator.faults import FaultInjector
from store2crm.sandbox.crm_emulator.salesforce_locks import LockKey, LockRegistry, lock_message
from store2crm.sandbox.crm_emulator.salesforce_records import Record, SObjectTable
from store2crm.sandbox.crm_emulator.salesforce_schema import (
    DEFAULT_STAGES,
    EXTERNAL_ID_FIELD,
    ID_PATTERN,
    SANDBOX_USER_ID,
    SOBJECTS,
    Field,
    FieldError,
    SObjectType,
    coerce,
    sf_datetime,
)

ROLLED_BACK = FieldError(  # per-record error of the valid records of a failed allOrNone request
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using AllOrNone header",
)


class UnknownFieldError(ValueError):
    """A payload names a field the sObject does not have; Salesforce rejects the whole request."""


@dataclass
class Prepared:
    """One record checked against the data as it stood when the request arrived, ready to save."""

    sobject: SObjectType
    values: dict[str, Any] = field(default_factory=dict)
    external_id: str | None = None
    existing: str | None = None
    parent_keys: list[LockKey] = field(default_factory=list)
    own_keys: list[LockKey] = field(default_factory=list)
    error: FieldError | None = None


class RecordWriter:
    """Prepares and saves records across the org's tables; callers run it under the emulator's lock."""

    def __init__(
        self, tables: dict[str, SObjectTable], clock: Callable[[], float], locks: LockRegistry, faults: FaultInjector
    ) -> None:
        self._tables = tables
        self._clock = clock
        self._locks = locks
        self._faults = faults

    # -- before the emulator's lock: which rows a payload will touch --------------------------------

    def lock_keys(self, sobject: SObjectType, payload: dict[str, Any], external_id: Any) -> list[LockKey]:
        """The rows a write locks: its own record and every parent it points at (best effort, no errors)."""
        own = [self._key(sobject, str(external_id))] if external_id not in (None, "") else []
        return own + self.parent_keys(sobject, payload)

    def parent_keys(self, sobject: SObjectType, payload: dict[str, Any]) -> list[LockKey]:
        """The parent rows a payload points at, by id or by external id."""
        keys = []
        for spec in _lookups(sobject):
            target = SOBJECTS[spec.reference_to or ""]
            reference = payload.get(spec.relationship or "")
            if isinstance(reference, dict) and isinstance(reference.get(EXTERNAL_ID_FIELD), str):
                keys.append(self._key(target, reference[EXTERNAL_ID_FIELD]))
            elif isinstance(payload.get(spec.name), str) and payload[spec.name]:
                keys.append((target.name, payload[spec.name]))
        return keys

    def _key(self, sobject: SObjectType, external_id: str) -> LockKey:
        owners = self._tables[sobject.name].matching(external_id)
        return (sobject.name, owners[0]) if len(owners) == 1 else (sobject.name, f"ext:{external_id}")

    # -- prepare ----------------------------------------------------------------------------------

    def prepare_upsert(self, sobject: SObjectType, payload: dict[str, Any], external_id: Any) -> Prepared:
        """Check one upsert payload keyed on the external-id field; errors land on `Prepared.error`."""
        prepared = Prepared(sobject)
        try:
            if external_id in (None, ""):
                raise FieldError("MISSING_ARGUMENT", f"{EXTERNAL_ID_FIELD} not specified")
            prepared.external_id = str(external_id)
            prepared.values = self._values(sobject, payload)
            prepared.values[EXTERNAL_ID_FIELD] = prepared.external_id
            prepared.existing = self._match(sobject, prepared.external_id)
        except FieldError as error:
            prepared.error = error
        prepared.parent_keys = self.parent_keys(sobject, payload)
        if prepared.external_id:
            prepared.own_keys = [self._key(sobject, prepared.external_id)]
        return prepared

    def prepare_create(self, sobject: SObjectType, payload: dict[str, Any]) -> Prepared:
        """Check one create payload; errors land on `Prepared.error`."""
        prepared = Prepared(sobject)
        try:
            prepared.values = self._values(sobject, payload)
            prepared.external_id = prepared.values.get(EXTERNAL_ID_FIELD)
        except FieldError as error:
            prepared.error = error
        prepared.parent_keys = self.parent_keys(sobject, payload)
        return prepared

    def prepare_update(self, sobject: SObjectType, payload: dict[str, Any], record_id_: str) -> Prepared:
        """Check one update of an existing record by its Id; errors land on `Prepared.error`."""
        prepared = self.prepare_create(sobject, payload)
        prepared.existing = record_id_
        prepared.own_keys = [(sobject.name, record_id_)]
        return prepared

    def flag_repeats(self, batch: list[Prepared]) -> None:
        """Fail every record of a request whose external id appears more than once in it."""
        counts = Counter(p.external_id for p in batch if p.external_id)
        for prepared in batch:
            if prepared.error is None and counts[prepared.external_id] > 1:
                message = f"Duplicate external id specified: {prepared.external_id}"
                prepared.error = FieldError("DUPLICATE_VALUE", message, [EXTERNAL_ID_FIELD])

    def _values(self, sobject: SObjectType, payload: dict[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, raw in payload.items():
            if name == "attributes":
                continue
            relationship = sobject.relationship(name)
            if relationship is not None:
                values[relationship.name] = self._by_external_id(relationship, raw)
                continue
            spec = sobject.fields.get(name)
            if spec is None:
                raise UnknownFieldError(f"No such column '{name}' on sobject of type {sobject.name}")
            if not spec.writable:
                message = (
                    f"Unable to create/update fields: {name}. Please check the security settings of this field "
                    "and verify that it is read/write for your profile or permission set."
                )
                raise FieldError("INVALID_FIELD_FOR_INSERT_UPDATE", message, [name])
            value = coerce(spec, raw)
            values[name] = self._by_id(spec, value) if spec.kind == "reference" and value else value
        return values

    def _by_id(self, spec: Field, value: str) -> str:
        target = SOBJECTS[spec.reference_to or ""]
        if not ID_PATTERN.match(value) or not value.startswith(target.key_prefix):
            raise FieldError("MALFORMED_ID", f"{spec.label}: id value of incorrect type: {value}", [spec.name])
        record = self._tables[target.name].get(value)
        if record is None:
            raise FieldError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [spec.name])
        return record["Id"]

    def _by_external_id(self, spec: Field, reference: Any) -> str | None:
        target = SOBJECTS[spec.reference_to or ""]
        if reference is None:
            return None
        keys = [k for k in reference if k != "attributes"] if isinstance(reference, dict) else []
        if len(keys) != 1:
            message = f"More than 1 field provided in an external foreign key reference in entity: {target.name}"
            raise FieldError("INVALID_FIELD", message, [])
        if keys[0] != EXTERNAL_ID_FIELD:
            message = f"Field name provided, {keys[0]} does not match an External ID or Salesforce Id for {target.name}"
            raise FieldError("INVALID_FIELD", message, [])
        value = str(reference[EXTERNAL_ID_FIELD])
        owners = self._tables[target.name].matching(value)
        if not owners:
            message = (
                f"Foreign key external ID: {value} not found for field {EXTERNAL_ID_FIELD} in entity {target.name}"
            )
            raise FieldError("INVALID_FIELD", message, [])
        if len(owners) > 1:
            raise _duplicate_external_id(target, owners)
        return owners[0]

    def _match(self, sobject: SObjectType, external_id: str) -> str | None:
        owners = self._tables[sobject.name].matching(external_id)
        if len(owners) > 1:
            raise _duplicate_external_id(sobject, owners)
        return owners[0] if owners else None

    # -- save -------------------------------------------------------------------------------------

    def save(self, prepared: Prepared, holder: str | None) -> tuple[str, bool]:
        """Create or update a prepared record; returns (id, created) or raises its FieldError."""
        if prepared.error is not None:
            raise prepared.error
        self._check_locks(prepared, holder)
        table = self._tables[prepared.sobject.name]
        now = sf_datetime(self._clock())
        current = table.get(prepared.existing) if prepared.existing else None
        record = dict(current) if current else self._new_record(table, now)
        record.update(prepared.values)
        record.update(LastModifiedDate=now, SystemModstamp=now)
        self._derive(prepared.sobject, record, prepared.values)
        missing = [
            spec.name for spec in prepared.sobject.fields.values() if spec.required and record[spec.name] is None
        ]
        if missing:
            raise FieldError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing)
        if current is None:
            self._check_unique(table, record)
        table.put(record)
        return record["Id"], current is None

    def _check_locks(self, prepared: Prepared, holder: str | None) -> None:
        rows = prepared.parent_keys + prepared.own_keys
        blocked = self._locks.blocked(holder, rows)
        if not blocked and rows and self._faults.draw("partial_failure_rate"):
            blocked = rows[:1]  # an injected partial failure: the transient lock error a real org gives
        if blocked:
            raise FieldError("UNABLE_TO_LOCK_ROW", lock_message(blocked))

    def _new_record(self, table: SObjectTable, now: str) -> Record:
        record: Record = {name: None for name in table.sobject.fields}
        record.update({name: False for name, spec in table.sobject.fields.items() if spec.kind == "boolean"})
        record.update(
            Id=table.new_id(),
            OwnerId=SANDBOX_USER_ID,
            CreatedById=SANDBOX_USER_ID,
            LastModifiedById=SANDBOX_USER_ID,
            CreatedDate=now,
        )
        return record

    def _derive(self, sobject: SObjectType, record: Record, written: dict[str, Any]) -> None:
        """Fill the fields Salesforce computes: Contact.Name, Opportunity probability and closed/won flags."""
        if sobject.name == "Contact":
            record["Name"] = " ".join(part for part in (record["FirstName"], record["LastName"]) if part) or None
        if sobject.name == "Opportunity" and "StageName" in written:
            probability, closed, won = DEFAULT_STAGES.get(record["StageName"] or "", (None, False, False))
            record.update(IsClosed=closed, IsWon=won)
            if "Probability" not in written and probability is not None:
                record["Probability"] = float(probability)

    def _check_unique(self, table: SObjectTable, record: Record) -> None:
        value = record.get(EXTERNAL_ID_FIELD)
        owners = table.matching(value) if value and table.unique_external_id else []
        if owners:
            message = f"duplicate value found: {EXTERNAL_ID_FIELD} duplicates value on record with id: {owners[0]}"
            raise FieldError("DUPLICATE_VALUE", message, [])


def _lookups(sobject: SObjectType) -> list[Field]:
    return [spec for spec in sobject.fields.values() if spec.relationship and spec.reference_to in SOBJECTS]


def _duplicate_external_id(sobject: SObjectType, owners: list[str]) -> FieldError:
    label = sobject.fields[EXTERNAL_ID_FIELD].label
    message = f"{label}: more than one record found for external id field: [{', '.join(owners)}]"
    return FieldError("DUPLICATE_EXTERNAL_ID", message, [EXTERNAL_ID_FIELD])
