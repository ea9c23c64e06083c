"""Where results go: one small interface per external system, with an in-memory twin."""
