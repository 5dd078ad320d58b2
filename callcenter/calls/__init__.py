"""Call sessions: one task per channel in Stasis, from StasisStart to its closed record."""
