"""Generated torch modules (see symdiff.generated)."""
