"""Environmental benefits: what a green project does for the environment, per project and per loan."""
