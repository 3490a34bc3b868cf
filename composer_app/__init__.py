"""Composer: sketch a melody in a piano roll; an RNN-RBM continues it live."""

__version__ = "0.1.0"
