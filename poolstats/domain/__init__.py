"""Pure values and rules: no I/O, no clock, no database (a test checks the imports)."""
