"""The editor's desk: a story drafted from its link (``newsletter add``)."""
