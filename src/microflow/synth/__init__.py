"""Semi-synthetic benchmark: Okada fault fields on real satellite texture with temporal perturbations."""
