"""HubSpot's error bodies as the emulator emits them, and the batch rules that decide between them."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from store2crm.sandbox.server import Response

SANDBOX_PORTAL_ID = 20260301  # HubSpot names the portal in validation messages; any fixed id will do

AUTH_FAILED = (  # 401 text api.hubapi.com returns for a missing or unknown bearer token
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find "
    "more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
RATE_LIMIT_MESSAGES = {  # usage-details 429 bodies: `policyName` tells which limit was hit
    "TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
    "DAILY": "You have reached your daily limit.",
}


class Reject(Exception):
    """Ends a request early with a finished response."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


@dataclass
class InputError(Exception):
    """One batch input failed; `atomic` errors fail the whole batch unless multi-status is on."""

    status: int
    category: str
    message: str
    context: dict[str, list[str]] = field(default_factory=dict)
    errors: list[dict[str, Any]] | None = None
    atomic: bool = True

    def response(self) -> Response:
        """The whole-request error HubSpot gives when the batch is not multi-status."""
        extra = {} if self.errors is None else {"errors": self.errors}
        return error_response(self.status, self.message, self.category, **extra)

    def batch_error(self, trace_id: str | None) -> dict[str, Any]:
        """The entry for this input in a 207 response's `errors[]`."""
        context = dict(self.context)
        if trace_id is not None:
            context["objectWriteTraceId"] = [trace_id]
        return {"status": "error", "category": self.category, "message": self.message, "context": context}


def error_response(status: int, message: str, category: str | None = None, **extra: Any) -> Response:
    """HubSpot's error envelope: `status`, `message`, `correlationId`, then `category` and any extras."""
    body: dict[str, Any] = {"status": "error", "message": message, "correlationId": str(uuid.uuid4())}
    if category is not None:
        body["category"] = category
    body.update(extra)
    return Response(status, body)


def as_string(value: Any, where: str) -> str:
    """HubSpot reads scalars as their text; an object or array fails the whole request's JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    kind = "Object" if isinstance(value, dict) else "Array"
    raise Reject(
        error_response(
            400,
            f"Invalid input JSON: Cannot deserialize value of type `java.lang.String` from {kind} value at {where}",
            "VALIDATION_ERROR",
        )
    )


def property_problem(name: str, code: str, message: str) -> dict[str, Any]:
    """One entry of the JSON list HubSpot embeds in "Property values were not valid: [...]"."""
    return {
        "isValid": False,
        "message": message,
        "error": code,
        "name": name,
        "localizedErrorMessage": message,
        "portalId": SANDBOX_PORTAL_ID,
    }


def invalid_properties(problems: list[dict[str, Any]]) -> InputError:
    """The VALIDATION_ERROR for an input, naming every invalid property (error-handling guide shape)."""
    listing = json.dumps(problems, separators=(",", ":"))
    details = [
        {"message": p["message"], "code": p["error"], "context": {"propertyName": [p["name"]]}} for p in problems
    ]
    return InputError(400, "VALIDATION_ERROR", f"Property values were not valid: {listing}", errors=details)


def multi_status(inputs: list[dict[str, Any]]) -> bool:
    """Error-handling guide: a unique objectWriteTraceId on every input turns on partial failure."""
    traces = [item.get("objectWriteTraceId") for item in inputs]
    return bool(traces) and all(isinstance(t, str) for t in traces) and len(set(traces)) == len(traces)


def merge_not_found(errors: list[dict[str, Any]], message: str) -> list[dict[str, Any]]:
    """HubSpot reports every missing id of a batch in one OBJECT_NOT_FOUND error."""
    missing = [e for e in errors if e["category"] == "OBJECT_NOT_FOUND"]
    if len(missing) < 2:
        return errors
    context: dict[str, list[str]] = {}
    for entry in missing:
        for key, values in entry["context"].items():
            context.setdefault(key, []).extend(values)
    merged = {"status": "error", "category": "OBJECT_NOT_FOUND", "message": message, "context": context}
    return [e for e in errors if e["category"] != "OBJECT_NOT_FOUND"] + [merged]
