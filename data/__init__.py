"""Everything between image files on disk and tensors: datasets, damage synthesis, augmentation, splits."""
