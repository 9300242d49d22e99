"""MusicVAE networks: TF-compatible LSTM stacks, encoder, flat and hierarchical decoders."""
