"""Share events in: decoding (pure), the journal, and the paths that feed the engine."""
