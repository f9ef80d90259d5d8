// The RPCServer module; see ARCHITECTURE.md.
