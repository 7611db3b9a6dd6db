"""CRM emulator: a stateful CRM API on loopback."""
