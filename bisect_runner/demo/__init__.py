"""The demo behind `make demo`: a small shop service, two releases, and the incident story."""
