"""Airbyte source for e-commerce stores: one canonical model whatever the platform."""
