"""Hand landmarks from frames, the same on the kiosk and in training: MediaPipe or LiteRT, and the model file."""
