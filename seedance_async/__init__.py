"""seedance-async."""
