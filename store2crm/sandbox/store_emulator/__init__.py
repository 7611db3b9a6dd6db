"""Store emulator: serves generated data in a store platform's API dialect."""
