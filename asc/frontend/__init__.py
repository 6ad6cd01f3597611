"""From a clip to the network's input: decoding, the mel front ends and their torch-free options."""
