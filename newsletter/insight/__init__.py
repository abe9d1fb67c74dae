"""What readers did, as knowledge for the editor: each issue's figures with its stories
(:mod:`.issues`), the figures over time and the list's growth (:mod:`.trend`), and the
guard on the sender's health (:mod:`.health`).

It reads counts only (store/figures.py) and the issue files (for headlines): no reader is
named anywhere here.
"""
