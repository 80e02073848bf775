"""Test helpers: real Node Yjs clients (node_client) and deadline-bound waits (waiting)."""
