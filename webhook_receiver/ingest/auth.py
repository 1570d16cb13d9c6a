"""Who may deliver: GitLab's secret token or its Standard Webhooks signature, checked before the body is read.

Rules (shared/infra/03-gitlab-webhooks.md, Standard Webhooks spec):

- a delivery with ``webhook-signature`` is verified by signature only: HMAC-SHA256 with
  base64-decode(token without ``whsec_``) over ``{webhook-id}.{webhook-timestamp}.{raw body}``;
  each space-separated ``v1,<base64>`` entry is compared in constant time; the timestamp
  must be within the replay window of *our* clock (injectable, so tests can freeze it);
- otherwise ``X-Gitlab-Token`` must equal one of the configured secret tokens, compared
  in constant time against every one (so a rotation, with old and new configured, loses nothing).

The signature itself is computed by the ``standardwebhooks`` library (``Webhook.sign``);
its ``verify`` is not used because its clock is the wall clock, fixed at 5 minutes, and
because malformed headers raise ValueError/UnicodeDecodeError (receiver-models.md §2):
here every malformed input is a plain :class:`AuthError`, i.e. a 401.
"""
from __future__ import annotations

import base64
import binascii
import hmac
import time
from datetime import datetime, timezone
from typing import Callable, Mapping

from standardwebhooks import Webhook


class AuthError(Exception):
    """The delivery is not authenticated; ``reason`` is a short metric label, the message says why."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class Authenticator:
    """Checks deliveries against several secret tokens and signing tokens at once.

    ``secret_tokens``/``signing_tokens``: plain strings (already resolved); ``window``: seconds;
    ``clock``: returns Unix seconds (``time.time`` by default).
    """

    def __init__(self, secret_tokens: list[str], signing_tokens: list[str], window: float = 300.0,
                 clock: Callable[[], float] = time.time):
        self._tokens = [t.encode() for t in secret_tokens]
        self._signers = [Webhook(t) for t in signing_tokens]
        self.window, self.clock = window, clock

    def needs_body(self, headers: Mapping[str, str]) -> bool:
        """True when the check needs the raw body (signatures); a token is checked from the headers alone."""
        return "webhook-signature" in headers

    def check_headers(self, headers: Mapping[str, str]) -> str:
        """Token path (no body needed). Returns the method used ("token"); raises :class:`AuthError`.

        ``headers`` must be case-insensitive (aiohttp's CIMultiDict)."""
        presented = headers.get("X-Gitlab-Token")
        if presented is None:
            raise AuthError("missing_token", "no X-Gitlab-Token and no webhook-signature")
        if not self._tokens:
            raise AuthError("token_not_accepted", "this receiver accepts signed deliveries only")
        given = presented.encode("utf-8", "surrogateescape")
        matched = False
        for token in self._tokens:  # all compared, so timing does not tell which one matched
            matched |= hmac.compare_digest(given, token)
        if not matched:
            raise AuthError("bad_token", "X-Gitlab-Token does not match a configured secret token")
        return "token"

    def check_signature(self, headers: Mapping[str, str], body: bytes) -> str:
        """Signature path over the raw body. Returns "signature"; raises :class:`AuthError`."""
        if not self._signers:
            raise AuthError("signature_not_accepted", "no signing token is configured for this receiver")
        msg_id, stamp, signature = (headers.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature"))
        if not msg_id or not stamp or not signature:
            raise AuthError("bad_signature", "a signed delivery needs webhook-id, webhook-timestamp and webhook-signature")
        try:
            seconds = int(stamp)
        except ValueError:
            raise AuthError("bad_signature", "webhook-timestamp is not Unix seconds") from None
        now = self.clock()
        if abs(now - seconds) > self.window:
            raise AuthError("outside_window", f"webhook-timestamp is {int(now - seconds)} s off; the replay window "
                            f"is {int(self.window)} s")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise AuthError("bad_signature", "the body is not UTF-8") from None
        presented = []
        for entry in signature.split():
            version, _, value = entry.partition(",")
            if version != "v1" or not value:
                continue
            try:
                presented.append(base64.b64decode(value, validate=True))
            except (binascii.Error, ValueError):
                continue
        if not presented:
            raise AuthError("bad_signature", "webhook-signature has no v1,<base64> entry")
        when = datetime.fromtimestamp(seconds, tz=timezone.utc)
        matched = False
        for signer in self._signers:
            expected = base64.b64decode(signer.sign(msg_id, when, text).split(",", 1)[1])
            for candidate in presented:
                matched |= hmac.compare_digest(expected, candidate)
        if not matched:
            raise AuthError("bad_signature", "no webhook-signature entry matches a configured signing token")
        return "signature"
