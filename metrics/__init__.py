"""The competition score and other image metrics."""
