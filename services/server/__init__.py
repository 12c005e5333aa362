"""The model server: an OpenAI-compatible HTTP API over each dataset's production model, following the
registry as models are promoted and rolled back."""
