"""`python -m destination_crm spec|check|write ...`."""

from __future__ import annotations

from destination_crm.run import run

run()
