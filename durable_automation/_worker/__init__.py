"""The worker engine room: the router workflow and router activity that hand each run to
its kind's program, the shared program base, and the Temporal worker assembly. Reads
what concept packages registered in ``_core.hooks``; imports none of them."""
