"""Environmental-rights collateral: instruments, prices, valuation, haircuts and coverage."""
