from opentrons import protocol_api
metadata = {"apiLevel": "2.13"}
def run(ctx: protocol_api.ProtocolContext)
    ctx.comment("never")
