"""Launch the Composer app (the README's `make run`)."""

from composer_app.app import main

raise SystemExit(main())
