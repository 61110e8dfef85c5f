"""Coverage-guided fuzzing (atheris) of everything that parses a user's file: the audio loader,
training and transcription manifests, alphabet files and command lists. See ``fuzz/README.md``."""
