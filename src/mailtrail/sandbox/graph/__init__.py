"""Microsoft Graph v1.0 mail emulator and Microsoft identity platform endpoints (``create_graph_app``)."""
