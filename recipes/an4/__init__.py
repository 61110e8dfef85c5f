"""CMU AN4 recipe (alphanumeric census speech: spelled letters, digits, numbers, dates)."""
