// The Xenops module; see ARCHITECTURE.md.
