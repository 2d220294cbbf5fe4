"""Face recognition: detection with landmarks, alignment, embedders and galleries."""
