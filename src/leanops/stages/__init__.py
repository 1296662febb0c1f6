"""The stages of the pipeline. Each reads a durable input, writes a durable output and returns a result."""
