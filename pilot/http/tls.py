"""Client TLS contexts, built once per set of options: loading CAs and keys is slow (tens of
milliseconds) and would block the loop if done per connection."""

from __future__ import annotations

import functools
import os
import ssl

Certificate = tuple[str, str] | str | None  # (cert file, key file), one PEM holding both, or none


def client_context(verify: bool | str = True, cert: Certificate = None) -> ssl.SSLContext:
    """A context that verifies the server against the system's CAs (or those `SSL_CERT_FILE` /
    `SSL_CERT_DIR` name), against the CA file or directory `verify` names, or not at all when
    `verify` is False; `cert` is the client's own certificate, for servers that ask for one.

    Raises:
        OSError: a CA or certificate file cannot be read.
        ssl.SSLError: a file is not PEM, or the key does not match the certificate.
    """
    environ = os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")
    return _context(verify, cert, *environ)


@functools.lru_cache(maxsize=8)
def _context(
    verify: bool | str, cert: Certificate, cert_file: str | None, cert_dir: str | None
) -> ssl.SSLContext:
    """client_context's, made once per options and per CA locations the environment names
    (ssl reads them when the context is made)."""
    if isinstance(verify, str):
        if os.path.isdir(verify):
            context = ssl.create_default_context(capath=verify)
        else:
            context = ssl.create_default_context(cafile=verify)
    else:
        context = ssl.create_default_context()
        if not verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    if isinstance(cert, tuple):
        context.load_cert_chain(*cert)
    elif cert:
        context.load_cert_chain(cert)
    return context
