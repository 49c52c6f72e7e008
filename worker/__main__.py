"""`python -m worker` is the `wirewatch` command."""

from worker.cli import main

raise SystemExit(main())
