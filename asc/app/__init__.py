"""The commands: the Hydra entry point, the Python API, the environment a run starts in, multirun sweeps."""
