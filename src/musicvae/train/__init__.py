"""Training: schedules, the training loop (one process or torchrun), checkpoints."""
