"""The sanitizer's edges: spaCy (through Presidio's NLP engine), Presidio's anonymizer, Faust."""
