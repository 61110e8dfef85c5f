"""Google Speech Commands v0.02 recipe (ten spelled commands, unknown words and silence)."""
