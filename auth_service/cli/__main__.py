"""`python -m auth_service.cli`: the `auth-service` command."""

from auth_service.cli.main import main

raise SystemExit(main())
