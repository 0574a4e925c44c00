metadata = {"apiLevel": "2.13", "protocolName": "Magnetic module"}


def run(ctx):
    magnet = ctx.load_module("magnetic module gen2", 4)
    plate = magnet.load_labware("nest_96_wellplate_100ul_pcr_full_skirt")
    tips = ctx.load_labware("opentrons_96_tiprack_300ul", 5)
    pipette = ctx.load_instrument("p300_single_gen2", "right", tip_racks=[tips])
    magnet.engage(height_from_base=10)
    pipette.transfer(50, plate["A1"], plate["A2"])
    magnet.disengage()
