"""A private pyftpdlib for the networked benches: ThreadedFTPServer on 127.0.0.1, user
`bench` / password `bench` with full rights on ROOT.

Usage: ftpd.py ROOT PORT PASV_MIN PASV_MAX
"""
import logging
import sys

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import ThreadedFTPServer

root, port, pasv_min, pasv_max = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
logging.basicConfig(level=logging.WARNING)
authorizer = DummyAuthorizer()
authorizer.add_user("bench", "bench", root, perm="elradfmwMT")


class Handler(FTPHandler):
    pass


Handler.authorizer = authorizer
Handler.passive_ports = list(range(pasv_min, pasv_max + 1))
Handler.banner = "ftpchat bench pyftpdlib"
server = ThreadedFTPServer(("127.0.0.1", port), Handler)
server.max_cons = 256
server.max_cons_per_ip = 0
server.serve_forever()
