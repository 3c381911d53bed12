"""The foundation every murmur package stands on: domain errors, the settings-section base, and the one way a
validation error becomes a message. It imports nothing of the project."""
