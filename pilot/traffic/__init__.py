"""The traffic monitor of `pilot up`: a recording HTTP proxy in front of a service, the
exchanges it keeps, and the page that shows them."""
