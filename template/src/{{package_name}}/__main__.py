"""`python -m <package>`: serve the agent on 0.0.0.0:$PORT (default 8088)."""

import gc

# Start-up only makes objects that live as long as the process: collecting garbage
# while importing finds none and cost about 10 ms of every cold start. serve.main()
# turns the collector back on once the server is built.
gc.disable()

from .hosting.serve import main  # noqa: E402

main()
