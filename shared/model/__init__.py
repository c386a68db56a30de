"""A trained model: its bundle (files, checksums, signatures), the runtimes that run it, its answers."""
