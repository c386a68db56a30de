"""What people see: the kiosk web page and local API (web.py), an OpenCV window (window.py), both fed
by one hub (hub.py) that never makes the pipeline wait."""
