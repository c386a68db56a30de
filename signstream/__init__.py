"""The ``signstream`` command and the demo: the only code that puts the server, the kiosk and training together."""
