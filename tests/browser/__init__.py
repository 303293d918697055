"""Tests that start the real `make lab` (and, for test_in_chromium, drive it with Chromium)."""
