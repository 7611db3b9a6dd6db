"""Console entry point: `destination-crm spec|check|write ...`."""

from __future__ import annotations

import sys

from airbyte_cdk.logger import init_logger

from destination_crm.destination import DestinationCrm


def run() -> None:
    """Run the destination with the process arguments, logging as Airbyte LOG messages."""
    init_logger("airbyte")
    DestinationCrm().run(sys.argv[1:])
