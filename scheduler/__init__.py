"""scheduler: filled by later issues."""
