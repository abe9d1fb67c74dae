"""The readers' web service: leave in one click, and hear back from the providers."""
