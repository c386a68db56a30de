"""What a kiosk, a server and a model must agree on: the feature spec, normalisation, handedness, the wire protocol."""
