"""A real SMTP server (aiosmtpd) that refuses one recipient while a marker file exists.

Usage: smtp_refusing.py PORT REFUSED_ADDRESS LOG_FILE MARKER_FILE [DELAY_SECONDS]
Each accepted message appends its recipients to LOG_FILE, one message a line. With a delay,
each message is held that long before it is accepted (a slow relay, to stop a run mid-delivery).
"""
import asyncio
import os
import sys
import time

from aiosmtpd.controller import Controller

port, refused, log_file, marker = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
delay = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0


class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address == refused and os.path.exists(marker):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if delay:
            await asyncio.sleep(delay)
        with open(log_file, "a", encoding="utf-8") as log:
            log.write(" ".join(envelope.rcpt_tos) + "\n")
        return "250 Message accepted for delivery"


controller = Controller(Handler(), hostname="127.0.0.1", port=port)
controller.start()
print("ready", flush=True)
while True:
    time.sleep(1)
