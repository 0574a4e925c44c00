"""A protocol at API level 2.15 (run through the Protocol Engine in opentrons 8)."""
requirements = {"apiLevel": "2.15", "robotType": "OT-2"}
metadata = {"protocolName": "Engine level"}


def run(ctx):
    magnet = ctx.load_module("magnetic module gen2", 1)
    plate = magnet.load_labware("nest_96_wellplate_100ul_pcr_full_skirt")
    tips = ctx.load_labware("opentrons_96_tiprack_300ul", 2)
    pipette = ctx.load_instrument("p300_multi_gen2", "right", tip_racks=[tips])
    pipette.transfer(20, plate["A1"], plate["A2"])
