"""CERF (碳减排支持工具): which loans qualify, and the quarter's batch."""
