"""Recordings and voicemail: files in Asterisk's spool, rows with their checksum."""
