"""Import checkpoints from elsewhere: TensorFlow checkpoints of Magenta's MusicVAE."""
