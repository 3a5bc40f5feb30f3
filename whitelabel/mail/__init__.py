"""Transactional mail: an outbox in the platform schema, a dispatcher, console and SMTP senders.

Modules queue mail with :func:`enqueue` (or :func:`enqueue_sync`) in the same transaction as the
change that causes it; :class:`whitelabel.mail.plugin.MailPlugin` runs a dispatcher in each
server process, and ``whitelabel mail send|status|retry`` operate the outbox by hand. See
docs/operations/mail.md.
"""

from whitelabel.mail.service import enqueue, enqueue_sync

__all__ = ["enqueue", "enqueue_sync"]
