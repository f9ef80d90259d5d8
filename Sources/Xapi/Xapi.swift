// The Xapi module; see ARCHITECTURE.md.
