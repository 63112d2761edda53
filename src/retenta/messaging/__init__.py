"""Messages and channels (issue #4): templates, rendering, signing, delivery.

Pure logic (templates, language pick, MIME, DKIM) sits beside the I/O edges (channels);
channels speak real protocols behind the small interface in ``channels/base.py``.
"""
