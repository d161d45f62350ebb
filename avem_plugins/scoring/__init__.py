"""Scoring: answer parsing, emotion lexicons, metrics, the EMER judge and task data loading (what ``tasks/`` imports)."""
