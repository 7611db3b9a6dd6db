"""Airbyte destination that loads the crm_* models into a CRM."""
