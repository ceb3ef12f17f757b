"""The kemu command line."""
