"""The `border-surge` command line: commands, the run/stop runner, the emitter."""
