"""Pure decision logic: answers to priorities, conflict score and discussion points (no I/O)."""
