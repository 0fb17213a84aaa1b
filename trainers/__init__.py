"""The GAN training loop, checkpoints, logging, prediction."""
