"""The 16-bar flat vs hierarchical study (issue 11): configs `study-*-mel_16bar`, an
independent melody language model (lm), a real-vs-generated classifier (realism_classifier),
its own realism features (measures), its evaluation stage over musicvae.evaluation (evaluate),
the resumable runner and its report. Run it with
`python tools/study_16bar.py --out runs/study16` (docs/REPRODUCTION.md)."""
