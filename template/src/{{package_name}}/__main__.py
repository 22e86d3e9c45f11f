"""`python -m <package>`: serve the agent on 0.0.0.0:$PORT (default 8088)."""

from .hosting.serve import main

main()
