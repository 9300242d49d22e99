"""Built-in corpora: the folk tunes of music21's corpus, read from ABC (abc.py) into
NoteSequences and written as MIDI (folk.py), ready for `musicvae prepare --input folk`."""
