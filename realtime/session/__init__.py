"""The high-level ``Session`` on top of a connection: turns, tools, MCP approvals."""
