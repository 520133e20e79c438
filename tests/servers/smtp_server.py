"""A real SMTP server for the email tests: aiosmtpd (Debian python3-aiosmtpd), run by
/usr/bin/python3, delivering every accepted mail into a maildir the test reads.

usage: smtp_server.py PORT MAILDIR [CERT KEY]
With CERT and KEY it offers STARTTLS and requires it. Recipients starting with "reject" get
550, with "tempfail" 451, so the tests can drive the outbox's failure paths. Prints READY once
it listens; exits when stdin closes (the test process ended) or on SIGTERM.
"""
import mailbox
import signal
import ssl
import sys
import threading

from aiosmtpd.controller import Controller


class Handler:
    def __init__(self, maildir):
        self.box = mailbox.Maildir(maildir, create=True)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0]
        if local.startswith("reject"):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if local.startswith("tempfail"):
            return "451 4.3.0 Mailbox temporarily unavailable, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        header = (
            f"X-Envelope-From: {envelope.mail_from}\r\n"
            f"X-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
            f"X-TLS: {'yes' if session.ssl else 'no'}\r\n"
        ).encode()
        self.box.add(header + envelope.original_content)
        return "250 2.0.0 Message accepted for delivery"


def main():
    port, maildir = int(sys.argv[1]), sys.argv[2]
    context = None
    if len(sys.argv) > 4:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(sys.argv[3], sys.argv[4])
    controller = Controller(
        Handler(maildir),
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=context is not None,
        data_size_limit=64 * 1024 * 1024,
    )
    controller.start()
    print("READY", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    done.wait()
    controller.stop()


if __name__ == "__main__":
    main()
