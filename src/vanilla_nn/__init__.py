"""vanilla_nn."""
