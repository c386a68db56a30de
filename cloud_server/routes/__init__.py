"""The server's routes, one Blueprint per concern (``create_app`` registers them)."""
