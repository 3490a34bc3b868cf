"""``python -m composer_app`` runs the command-line interface."""

from composer_app.cli import main

# Guarded: spawned child processes (the MIDI player) import the main module again.
if __name__ == "__main__":
    raise SystemExit(main())
