"""CRM modules: one per CRM dialect."""
