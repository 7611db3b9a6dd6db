"""Console entry point `source-store`: the Airbyte protocol commands spec, check, discover, read."""

from __future__ import annotations

import sys

from airbyte_cdk.entrypoint import launch

from source_store.source import SourceStore


def run() -> None:
    """Run one Airbyte command given on the command line."""
    launch(SourceStore(), sys.argv[1:])
