"""Synthetic speech from TTS engines: broad spelling coverage for the bundled model."""
