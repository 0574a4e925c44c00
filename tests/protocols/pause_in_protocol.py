"""Pauses itself (ctx.pause) between two comments."""
metadata = {"apiLevel": "2.13", "protocolName": "Pause in protocol"}


def run(ctx):
    ctx.comment("before the pause")
    ctx.pause("Add the reagent, then resume")
    ctx.comment("after the pause")
