"""Networks: U-Net generator, PatchGAN discriminator, output heads, init, registry."""
