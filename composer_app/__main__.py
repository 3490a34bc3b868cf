"""``python -m composer_app`` runs the command-line interface."""

from composer_app.cli import main

raise SystemExit(main())
