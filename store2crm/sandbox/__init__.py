"""Sandbox: data generator, store emulator and CRM emulator for demos and tests."""
