"""Uses a custom labware definition uploaded beside it (ot2nb_6_tuberack_5000ul.json),
on the deck and on a temperature module."""
metadata = {"apiLevel": "2.13", "protocolName": "Custom labware"}


def run(ctx):
    rack = ctx.load_labware("ot2nb_6_tuberack_5000ul", 1)
    block = ctx.load_module("temperature module gen2", 3)
    cold_rack = block.load_labware("ot2nb_6_tuberack_5000ul")
    tips = ctx.load_labware("opentrons_96_tiprack_1000ul", 2)
    pipette = ctx.load_instrument("p1000_single_gen2", "left", tip_racks=[tips])
    pipette.transfer(500, rack["A1"], cold_rack.wells())
