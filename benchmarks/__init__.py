"""Speed and memory of vanilla_nn's convolutions against PyTorch's, as ratios. Run ``python -m benchmarks``."""
