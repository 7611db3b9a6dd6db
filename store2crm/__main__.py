"""Allow `python -m store2crm`."""

from store2crm.cli import main

main()
