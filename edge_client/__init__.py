"""The edge side: camera -> landmarks -> windows -> server (or the local TFLite model) -> kiosk display.

Nothing here imports TensorFlow: the Pi never installs it.
"""
