"""Drive the real app from outside, as its users do: its server process, Chromium, Streamlit's own protocol, digits
drawn as a canvas sends them, and waiting for what they show. Shared by tests/ and bench/ (neither imports the
other); it imports the app only where a test or a bench needs its names (core.state, core.cluster_client)."""
