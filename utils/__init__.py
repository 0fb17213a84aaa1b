"""Small shared utilities (config machinery, colour formulas, I/O, device): the lowest layer."""
