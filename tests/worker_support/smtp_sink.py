"""An aiosmtpd handler for the worker tests: saves every message as a file in $SINK_DIR and
answers 451 (try again later, as a greylisting server does) to the first $SINK_REFUSE_FIRST."""

import os
import uuid


class Sink:
    def __init__(self):
        self.dir = os.environ["SINK_DIR"]
        self.refuse = int(os.environ.get("SINK_REFUSE_FIRST", "0"))

    async def handle_DATA(self, server, session, envelope):
        if self.refuse > 0:
            self.refuse -= 1
            return "451 4.7.1 greylisted, try again later"
        name = os.path.join(self.dir, uuid.uuid4().hex)
        with open(name + ".tmp", "wb") as f:
            f.write(b"X-Rcpt-To: " + ",".join(envelope.rcpt_tos).encode() + b"\r\n")
            f.write(envelope.original_content or envelope.content)
        os.rename(name + ".tmp", name + ".eml")
        return "250 OK"
