"""The pure core: claims and events, the control algebra, names and time precision.

Nothing in this package does I/O or imports a framework; everything here is tested without a
database, a queue or a web server.
"""
