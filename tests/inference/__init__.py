"""Tests of musicvae.inference."""
