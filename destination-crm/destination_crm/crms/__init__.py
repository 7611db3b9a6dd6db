"""CRM modules: one per CRM dialect, looked up by the config's `crm` name."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from destination_crm.crms.base import CrmModule
from destination_crm.crms.hubspot import HubSpotCrm
from destination_crm.crms.salesforce import SalesforceCrm
from destination_crm.http import Sleep

CRM_MODULES: dict[str, type[CrmModule]] = {HubSpotCrm.name: HubSpotCrm, SalesforceCrm.name: SalesforceCrm}


def build_crm(
    config: Mapping[str, Any], *, sleep: Sleep, logger: logging.Logger, clock: Callable[[], float] = time.time
) -> CrmModule:
    """The CRM module the config names; an unknown name fails listing the valid ones."""
    name = config.get("crm")
    module = CRM_MODULES.get(str(name))
    if module is None:
        raise AirbyteTracedException(
            message=f"unknown crm {name!r}: choose one of {', '.join(sorted(CRM_MODULES))}",
            failure_type=FailureType.config_error,
        )
    return module.from_config(config, sleep=sleep, logger=logger, clock=clock)
