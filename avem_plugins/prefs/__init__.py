"""Preference data: the row schema and its checks, import/export, building, review, sources."""
