"""murmur package."""
