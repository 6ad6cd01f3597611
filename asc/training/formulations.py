"""The fused convolution's exact formulations (asc/training/fused_conv.py does them): declared here, without torch, so
that planning can check ``runtime.formulation`` without loading it."""

FORMULATIONS = ("grouped", "split", "im2col")
CHOICES = ("auto", *FORMULATIONS)
