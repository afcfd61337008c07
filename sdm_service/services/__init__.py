"""Services own the rules: validation, state changes and queries behind the HTTP handlers."""
