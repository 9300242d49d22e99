"""Checkpoints from and to Magenta: TF checkpoints (read without TensorFlow), magenta.js folders
(read and written), the name table between Magenta's variables and our modules."""
