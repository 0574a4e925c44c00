metadata = {"apiLevel": "2.13", "protocolName": "Thermocycler"}


def run(ctx):
    cycler = ctx.load_module("thermocycler module")
    plate = cycler.load_labware("nest_96_wellplate_100ul_pcr_full_skirt")
    cycler.close_lid()
    cycler.set_lid_temperature(105)
    cycler.execute_profile(
        steps=[{"temperature": 95, "hold_time_seconds": 30}, {"temperature": 57, "hold_time_seconds": 30}],
        repetitions=2,
        block_max_volume=50,
    )
    cycler.open_lid()
    cycler.deactivate()
    ctx.comment(plate.name)
