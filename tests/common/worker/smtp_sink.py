"""An aiosmtpd handler for the worker tests: saves every message as a file in $SINK_DIR and
answers 451 (try again later, as a greylisting server does) to the first $SINK_REFUSE_FIRST.
A recipient containing $SINK_REJECT_RCPT gets a 550 naming its address, as real servers do."""

import os
import uuid


class Sink:
    def __init__(self):
        self.dir = os.environ["SINK_DIR"]
        self.refuse = int(os.environ.get("SINK_REFUSE_FIRST", "0"))
        self.reject = os.environ.get("SINK_REJECT_RCPT", "")

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.reject and self.reject in address:
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

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
