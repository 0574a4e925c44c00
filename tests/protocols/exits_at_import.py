import os

os._exit(3)
metadata = {"apiLevel": "2.13"}


def run(ctx):
    pass
