"""Generated numpy modules (see symdiff.generated)."""
