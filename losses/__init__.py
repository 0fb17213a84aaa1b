"""Training losses and their weighted combination (GeneratorLoss, DiscriminatorLoss in losses.combined)."""
