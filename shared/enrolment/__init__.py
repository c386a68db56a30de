"""Teaching a bundle new signs from a few examples: a new checksummed version, and `signstream enroll`."""
