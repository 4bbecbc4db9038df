"""Drive the real app from outside, as its users do: its server process, Chromium, Streamlit's own protocol, digits
drawn as a canvas sends them, and waiting for what they show. Shared by tests/ and bench/: bench never imports
tests, and tests import bench only to test a bench's own code (tests/test_handstyle.py). The harness imports the
app's core only for names it must agree on (the model folder's settings, the embedded cluster's address)."""
