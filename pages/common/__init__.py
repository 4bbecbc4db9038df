"""What the page scripts share (not pages: app.py lists none of these): Streamlit's caches of core objects, the
calls pages make to the cluster, this browser's identity, the sidebar, the hyperparameter panel and widgets."""
