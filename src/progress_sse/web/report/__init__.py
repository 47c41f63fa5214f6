"""The printable report of one run: its model (pure), its HTML, its route."""
