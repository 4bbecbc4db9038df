"""The Training page's views (pages/training.py shows one at a time, its choice in the link)."""
