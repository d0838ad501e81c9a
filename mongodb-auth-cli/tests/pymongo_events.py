"""A pool listener that takes every event PyMongo sends one (its base class raises for each
method left out, and prints the traceback), for the scripts to override what they count."""

from pymongo import monitoring


class PoolEvents(monitoring.ConnectionPoolListener):
    def pool_created(self, event):
        pass

    def pool_ready(self, event):
        pass

    def pool_cleared(self, event):
        pass

    def pool_closed(self, event):
        pass

    def connection_created(self, event):
        pass

    def connection_ready(self, event):
        pass

    def connection_closed(self, event):
        pass

    def connection_check_out_started(self, event):
        pass

    def connection_check_out_failed(self, event):
        pass

    def connection_checked_out(self, event):
        pass

    def connection_checked_in(self, event):
        pass
