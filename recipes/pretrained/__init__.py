"""The recipe that trains and installs the bundled multi-corpus model."""
