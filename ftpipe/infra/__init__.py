"""Plumbing every stage shares: one-line errors, the stage runner, atomic outputs, locking, logs, seeding."""
