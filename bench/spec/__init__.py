"""How a model and its weights are named: specs, weights references, user variants, the contract."""
