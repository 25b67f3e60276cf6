"""The whole-book engine: portfolio aggregates and financed emissions."""
