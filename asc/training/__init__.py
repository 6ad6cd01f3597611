"""Training and evaluating networks: the fused trainer, one-at-a-time training, recipes, speed options, distillation, losses and metrics."""
