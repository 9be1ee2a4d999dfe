"""Small helpers that several packages need: argument checks, atomic files, thread counts."""
