// The Xenstore module; see ARCHITECTURE.md.
