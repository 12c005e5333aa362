"""Settings and logging shared by every service."""
