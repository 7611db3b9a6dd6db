"""Airbyte destination that loads the crm_* models into a CRM."""

from __future__ import annotations

from destination_crm.destination import DestinationCrm

__all__ = ["DestinationCrm"]
