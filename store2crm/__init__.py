"""store2crm: run the store → dbt → CRM chain, and its sandbox."""
