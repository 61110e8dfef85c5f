"""Free Spoken Digit Dataset recipe."""
