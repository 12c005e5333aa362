"""Sanitizer (Faust): normalize, deduplicate and anonymize raw records."""
