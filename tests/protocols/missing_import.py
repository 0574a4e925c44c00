import reagent_tables  # not uploaded

metadata = {"apiLevel": "2.13"}


def run(ctx):
    ctx.comment(reagent_tables.NAME)
