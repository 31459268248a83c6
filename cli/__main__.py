"""`python -m cli ...` is `actlab ...`."""

from cli.main import main

raise SystemExit(main())
