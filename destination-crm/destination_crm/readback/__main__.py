"""`python -m destination_crm.readback spec|check|discover|read ...`."""

from destination_crm.readback import main

main()
