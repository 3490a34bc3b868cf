"""Launch the Composer app (the README's `make run`)."""

from composer_app.app import main

# The guard matters: the MIDI player's process is spawned, and a spawned child imports this
# module again (as __mp_main__); it must not start a second app.
if __name__ == "__main__":
    raise SystemExit(main())
