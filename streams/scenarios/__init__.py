"""Scenario files shipped with the simulator, loaded by name with ``load_scenario``."""
